import { IsString, Length } from 'class-validator';
import type { RefreshRequest } from '../auth.events.js';

/** Far above any real JWT; keeps a verification from being asked to read megabytes. */
const MAX_REFRESH_TOKEN_LENGTH = 16 * 1024;

export class RefreshRequestDto implements RefreshRequest {
  @IsString()
  @Length(1, MAX_REFRESH_TOKEN_LENGTH)
  token!: string;
}
