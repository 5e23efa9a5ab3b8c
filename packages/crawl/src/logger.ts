/** The pino methods the crawl step logs with; a pino logger fits, and so does a silent one. */
export interface CrawlLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentLogger: CrawlLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
