import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { AppError } from './errors.js';
import { describeShapeProblem, payloadShapeProblem } from './payload-shape.js';

/**
 * Refuses request bodies and queries nested deeper than `MAX_PAYLOAD_DEPTH`, or holding keys that
 * name the prototype chain, before any pipe transforms them.
 */
@Injectable()
export class PayloadShapeMiddleware implements NestMiddleware {
  private readonly maxDepth: number;

  constructor(config: AppConfig) {
    this.maxDepth = config.limits.maxPayloadDepth;
  }

  use(request: Request, _response: Response, next: NextFunction): void {
    const problem =
      payloadShapeProblem(request.body, this.maxDepth) ?? payloadShapeProblem(request.query, this.maxDepth);
    if (problem) {
      const { message, details } = describeShapeProblem(problem, this.maxDepth);
      throw AppError.validation(message, details);
    }
    next();
  }
}
