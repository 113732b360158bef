import type {
  LifecycleEventType,
  MissionCallbackAcceptedData,
  MissionCallbackRejectedData,
  MissionCancelRejectedData,
  MissionCancelRequestedData,
  MissionDispatchedData,
  MissionDispatchRejectedData,
} from '../../../schemas/index.ts';

export { missionStream } from '../../../schemas/streams.ts';

/** `mission.dispatched`: a dispatch was accepted; it starts the mission. */
export interface MissionDispatchedEvent {
  type: 'mission.dispatched';
  data: MissionDispatchedData;
}

/** `mission.dispatch_rejected`: a dispatch was refused; the input is kept as received. */
export interface MissionDispatchRejectedEvent {
  type: 'mission.dispatch_rejected';
  data: MissionDispatchRejectedData;
}

/** An accepted lifecycle callback, stored under the callback's own `event_type`. */
export interface MissionCallbackAcceptedEvent {
  type: LifecycleEventType;
  data: MissionCallbackAcceptedData;
}

/** `mission.callback_rejected`: a callback was refused; the input is kept as received. */
export interface MissionCallbackRejectedEvent {
  type: 'mission.callback_rejected';
  data: MissionCallbackRejectedData;
}

/** `mission.cancel_requested`: an operator asked the factory to stop; pending until a final event. */
export interface MissionCancelRequestedEvent {
  type: 'mission.cancel_requested';
  data: MissionCancelRequestedData;
}

/** `mission.cancel_rejected`: a cancel request was refused. */
export interface MissionCancelRejectedEvent {
  type: 'mission.cancel_rejected';
  data: MissionCancelRejectedData;
}

/** Every event the mission decider emits. */
export type MissionEvent =
  | MissionDispatchedEvent
  | MissionDispatchRejectedEvent
  | MissionCallbackAcceptedEvent
  | MissionCallbackRejectedEvent
  | MissionCancelRequestedEvent
  | MissionCancelRejectedEvent;

/** An event as read back from a stream: its type and data, nothing assumed about either. */
export interface RecordedEvent {
  type: string;
  data: unknown;
}
