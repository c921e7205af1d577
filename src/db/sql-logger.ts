import type { Logger as TypeOrmLogger, QueryRunner } from "typeorm";
import type { Logger } from "pino";

/**
 * TypeORM logger that counts statements (tests assert that list queries do not fan out)
 * and logs failures without their parameters, which may hold personal data.
 */
export class SqlLogger implements TypeOrmLogger {
  /** Statements sent since start; read it before and after an operation to count its queries. */
  statements = 0;

  constructor(private readonly logger: Logger) {}

  logQuery(_query: string, _parameters?: unknown[], _queryRunner?: QueryRunner) {
    this.statements++;
  }
  logQueryError(error: string | Error, query: string) {
    this.logger.debug({ err: typeof error === "string" ? error : error.message, query: query.slice(0, 500) }, "sql error");
  }
  logQuerySlow(time: number, query: string) {
    this.logger.warn({ ms: time, query: query.slice(0, 500) }, "slow sql");
  }
  logSchemaBuild(message: string) {
    this.logger.debug(message);
  }
  logMigration(message: string) {
    this.logger.info(message);
  }
  log(level: "log" | "info" | "warn", message: unknown) {
    if (level === "warn") this.logger.warn(String(message));
    else this.logger.debug(String(message));
  }
}
