import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

export const MAX_PAGE_SIZE = 200;

export class ListSessionsDto {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  page?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

export class ListSessionsQueryDto extends ListSessionsDto {
  @IsOptional()
  @IsString()
  @Length(1, 256)
  userId?: string;
}

export class SessionIdParamDto {
  @IsString()
  @Length(1, 256)
  id!: string;
}
