-- Offboard's own database, next to Temporal's (run once by the postgres image on first start).
CREATE DATABASE offboard;
