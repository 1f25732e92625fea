import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { guarded } from '../common/failure-log.js';
import { AppConfig } from '../config/app-config.js';
import { AdminStatsService } from './admin-stats.service.js';
import type { AdminStats } from './admin.events.js';

/** Where pushed stats go: one transport's admin connections on this instance. */
export interface StatsAudience {
  /** Whether anyone is there to hear a push now. */
  present(): boolean;
  push(stats: AdminStats): void;
}

/**
 * Pushes `stats` every `ADMIN_STATS_MS` to `/admin` and `/ws/admin` alike: one build of the stats
 * per push for every transport, none while no admin is connected, and never two at once.
 */
@Injectable()
export class AdminStatsPush implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly audiences = new Set<StatsAudience>();
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private pushing = false;

  constructor(
    private readonly stats: AdminStatsService,
    config: AppConfig,
  ) {
    this.intervalMs = config.admin.statsMs;
  }

  /** Adds an audience; answers the function that removes it. */
  add(audience: StatsAudience): () => void {
    this.audiences.add(audience);
    return () => this.audiences.delete(audience);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(
      guarded('push the admin stats', () => this.push()),
      this.intervalMs,
    );
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async push(): Promise<void> {
    const present = [...this.audiences].filter((audience) => audience.present());
    if (present.length === 0 || this.pushing) return;
    this.pushing = true;
    try {
      const stats = await this.stats.current();
      for (const audience of present) audience.push(stats);
    } finally {
      this.pushing = false;
    }
  }
}
