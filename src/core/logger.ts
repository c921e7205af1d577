import pino, { type Logger } from "pino";

/**
 * Structured JSON logs. Personal data stays out: request bodies, variables and SQL parameters are
 * never logged, and these paths are redacted should they appear in a logged object.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "omnichannel-crm" },
    redact: {
      paths: ["authorization", "*.authorization", "headers.authorization", "phone", "*.phone", "email", "*.email", "apiKey", "*.apiKey"],
      censor: "[redacted]",
    },
  });
}
