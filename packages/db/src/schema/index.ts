export * from './crawl.ts';
export * from './media.ts';
export * from './tweets.ts';
export * from './users.ts';
