/**
 * Reading Temporal workflow histories (outside workflows): the CLI's replay and retry, the benchmarks
 * and the tests name events and find patch markers the same way.
 */
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

/** An event type's short name, as the Web UI shows it: `MARKER_RECORDED`, `WORKFLOW_TASK_COMPLETED`. */
export function eventTypeName(type: temporal.api.enums.v1.EventType | null | undefined): string {
  const name = EventType[type ?? EventType.EVENT_TYPE_UNSPECIFIED];
  return name ? name.replace(/^EVENT_TYPE_/, '') : `UNKNOWN(${String(type)})`;
}

/** The change id of a `patched()` marker (`lean-start`), or null for any other event. */
export function patchIdOf(e: HistoryEvent): string | null {
  const m = e.markerRecordedEventAttributes;
  const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : null;
  if (!data) return null;
  try {
    const id = (JSON.parse(Buffer.from(data).toString()) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
