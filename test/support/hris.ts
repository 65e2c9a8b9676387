/** The HR system stand-ins as tests configure them (docs/hris.md). */
import type { BambooHrStandIn } from '../../standins/bamboohr';
import type { HiBobStandIn } from '../../standins/hibob';
import type { PersonioStandIn } from '../../standins/personio';

/** The environment that turns the BambooHR adapter on against the stand-in. */
export const bambooEnv = (b: BambooHrStandIn) => ({
  HRIS_VENDORS: 'bamboohr',
  BAMBOOHR_API_URL: b.apiUrl,
  BAMBOOHR_API_KEY: b.apiKey,
  BAMBOOHR_WEBHOOK_KEY: b.webhookKey,
  BAMBOOHR_FILE_CATEGORY: '17',
});

/** The environment that turns the HiBob adapter on against the stand-in. */
export const hibobEnv = (b: HiBobStandIn) => ({
  HRIS_VENDORS: 'hibob',
  HIBOB_API_URL: b.apiUrl,
  HIBOB_SERVICE_USER_ID: b.serviceUserId,
  HIBOB_SERVICE_USER_TOKEN: b.token,
  HIBOB_WEBHOOK_SECRET: b.webhookSecret,
});

/** The environment that turns the Personio adapter on against the stand-in. */
export const personioEnv = (p: PersonioStandIn) => ({
  HRIS_VENDORS: 'personio',
  PERSONIO_API_URL: p.apiUrl,
  PERSONIO_CLIENT_ID: p.clientId,
  PERSONIO_CLIENT_SECRET: p.clientSecret,
  PERSONIO_WEBHOOK_SECRET: p.webhookSecret,
  PERSONIO_WEBHOOK_TOKEN: p.webhookToken,
  PERSONIO_PERSONAL_EMAIL_ATTRIBUTE: p.personalEmailAttribute,
  PERSONIO_DOCUMENT_CATEGORY: '7',
});
