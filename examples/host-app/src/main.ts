import { NestFactory } from '@nestjs/core';
import { setupSwitchboard } from 'switchboard';
import { AppModule } from './app.module';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  // The one line Switchboard needs here: its Socket.IO adapter (handshake auth, limits, Redis).
  await setupSwitchboard(app);
  app.enableShutdownHooks();
  await app.listen(process.env.PORT ?? 3000, process.env.HOST ?? '0.0.0.0');
}
void bootstrap();
