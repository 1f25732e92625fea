import { EnvironmentVariables } from '../../src/config/environment.js';

/** Switchboard's default packet size limit (`MAX_PAYLOAD_BYTES`), applied to the baselines too. */
export const MAX_PAYLOAD_BYTES = new EnvironmentVariables().MAX_PAYLOAD_BYTES;
