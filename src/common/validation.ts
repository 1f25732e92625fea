import { type ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError } from './errors.js';

export interface FieldProblem {
  field: string;
  problems: string[];
}

/** Flattens class-validator errors into `[{ field: 'a.b', problems: [...] }]`. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...describeValidationErrors(error.children ?? [], field)];
  });
}

/**
 * The validation pipe of both transports: unknown properties are refused, payloads are
 * converted to their DTO classes, and failures become `VALIDATION_FAILED` with the fields.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    validateCustomDecorators: false,
    exceptionFactory: (errors) => {
      const details = describeValidationErrors(errors);
      const summary = details.map((detail) => `${detail.field}: ${detail.problems.join(', ')}`).join('; ');
      return AppError.validation(summary || 'Payload must be an object', details);
    },
  });
}
