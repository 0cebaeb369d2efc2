/** The API module: everything the console sends to or reads from the controller goes through here. */
export { ApiError, asApiError, DroverApi, socketProtocols, socketUrl, type Accepted, type VmAction } from './client';
export { EventStream, type StreamStatus } from './events';
export { ParseError } from './parse';
export * from './types';
