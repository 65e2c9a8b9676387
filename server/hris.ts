/** The canonical HRIS event (PRODUCT.md, "HRIS webhook"), validated with zod. */
import { z } from 'zod';
import { HRIS_STATUSES, TERMINATION_TYPES, WORK_LOCATIONS } from '../contract';
import type { FieldError } from '../lib/errors';

const optionalEmail = z.email().max(254).nullish();

/**
 * Text PostgreSQL can store (text and jsonb columns): no NUL character and no unpaired UTF-16
 * surrogate. Without this check such a value was accepted and then failed to store (a 503 for bad input).
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export function storable(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}
export const STORABLE_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/** A string field that must be storable (see `storable`). */
export const text = () => z.string().refine(storable, STORABLE_MESSAGE);

/**
 * Instants and dates must fall in the years 1900-9999: the database refuses year 0 and years past
 * 9999 (an offset can push 9999-12-31 into the year 10000). An unparseable value is left to the
 * format check, so it gets one message.
 */
function inYears(s: string): boolean {
  const y = new Date(s).getUTCFullYear();
  return Number.isNaN(y) || (y >= 1900 && y <= 9999);
}
const YEARS_MESSAGE = 'must be between the years 1900 and 9999';
const instant = () => z.iso.datetime({ offset: true }).refine(inYears, YEARS_MESSAGE);

export const hrisEventSchema = z
  .object({
    type: z.literal('employee.status_changed'),
    occurredAt: instant(),
    employee: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only'),
      name: text().trim().min(1).max(200),
      workEmail: z.email().max(254),
      personalEmail: optionalEmail,
      department: text().trim().min(1).max(200),
      managerEmail: optionalEmail,
      departmentHeadEmail: optionalEmail,
      workLocation: z.enum(WORK_LOCATIONS),
      /**
       * Account ids per catalog system the HRIS knows (`{"entra": "<object id>", "ldap": "<DN>"}`):
       * they win over every matching key of that system.
       */
      accounts: z
        .record(
          z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a catalog system id'),
          text().trim().min(1).max(1024),
        )
        .refine((a) => Object.keys(a).length <= 100, 'must name at most 100 systems')
        .optional(),
    }),
    status: z.enum(HRIS_STATUSES),
    termination: z
      .object({
        type: z.enum(TERMINATION_TYPES),
        confirmedAt: instant(),
        lastDay: z.iso.date().refine(inYears, YEARS_MESSAGE).nullish(),
      })
      .nullish(),
  })
  .superRefine((e, ctx) => {
    if ((e.status === 'terminated' || e.status === 'resigned_confirmed') && !e.termination)
      ctx.addIssue({
        code: 'custom',
        path: ['termination'],
        message: `is required when status is "${e.status}"`,
      });
  });

export type HrisEvent = z.infer<typeof hrisEventSchema>;

/**
 * Zod issues as field-level errors (`employee.workEmail: Invalid email address`). A field of the wrong
 * type gets that one message: Zod 4 still runs the field's later checks on the wrong value (a length
 * check on an array said "expected array to have >=3 items"), which only adds noise.
 */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const wrongType = new Set(
    error.issues.filter((i) => i.code === 'invalid_type').map((i) => i.path.join('.')),
  );
  return error.issues
    .filter((i) => i.code === 'invalid_type' || !wrongType.has(i.path.join('.')))
    .map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
}
