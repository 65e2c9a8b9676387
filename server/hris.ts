/** The canonical HRIS event (PRODUCT.md, "HRIS webhook"), validated with zod. */
import { z } from 'zod';
import { HRIS_STATUSES, TERMINATION_TYPES, WORK_LOCATIONS } from '../contract';
import type { FieldError } from '../lib/errors';

const optionalEmail = z.email().max(254).nullish();

export const hrisEventSchema = z
  .object({
    type: z.literal('employee.status_changed'),
    occurredAt: z.iso.datetime({ offset: true }),
    employee: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only'),
      name: z.string().trim().min(1).max(200),
      workEmail: z.email().max(254),
      personalEmail: optionalEmail,
      department: z.string().trim().min(1).max(200),
      managerEmail: optionalEmail,
      departmentHeadEmail: optionalEmail,
      workLocation: z.enum(WORK_LOCATIONS),
    }),
    status: z.enum(HRIS_STATUSES),
    termination: z
      .object({
        type: z.enum(TERMINATION_TYPES),
        confirmedAt: z.iso.datetime({ offset: true }),
        lastDay: z.iso.date().nullish(),
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

/** Zod issues as field-level errors (`employee.workEmail: Invalid email address`). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
}
