import type { Rng } from './prng.ts';

/**
 * Tweet text in several languages, with entities whose offsets are right. Offsets count
 * code points, as X's do; every word list here is in the Basic Multilingual Plane, so a
 * UTF-16 index equals a code point index and `text.length` can be used.
 */
export const LANGUAGES = ['en', 'es', 'fr', 'de', 'pt', 'ja', 'ar', 'tr'] as const;
export type Language = (typeof LANGUAGES)[number];

const WORDS: Record<Language, readonly string[]> = {
  en: 'the morning light over the harbour new build shipped today thanks everyone who came small team big launch coffee first then code the train was late again weekend notes on design reading this thread later great question honestly not sure maybe tomorrow we will see'.split(
    ' ',
  ),
  es: 'hoy fue un gran día gracias a todos por venir el equipo lanzó la nueva versión mañana seguimos con el café y el código la ciudad está preciosa esta tarde leyendo un hilo interesante'.split(
    ' ',
  ),
  fr: "aujourd'hui belle journée merci à tous pour votre soutien nouvelle version en ligne le café d'abord puis le code la ville est magnifique ce soir lecture du fil plus tard on verra demain".split(
    ' ',
  ),
  de: 'heute ein großer tag danke an alle die gekommen sind neue version ist online erst kaffee dann code die stadt ist wunderschön heute abend lese diesen thread später mal sehen morgen'.split(
    ' ',
  ),
  pt: 'hoje foi um ótimo dia obrigado a todos que vieram nova versão no ar primeiro café depois código a cidade está linda esta noite lendo esse fio mais tarde vamos ver amanhã'.split(
    ' ',
  ),
  ja: '今日は 新しい バージョンを 公開しました 皆さん ありがとう コーヒー まず コードを 書く 街が きれい 今夜 スレッドを 読む 明日 また 会いましょう 楽しい 一日'.split(
    ' ',
  ),
  ar: 'اليوم يوم رائع شكرا للجميع الإصدار الجديد متاح الآن القهوة أولا ثم البرمجة المدينة جميلة هذا المساء سأقرأ هذا لاحقا نرى غدا'.split(
    ' ',
  ),
  tr: 'bugün harika bir gün herkese teşekkürler yeni sürüm yayında önce kahve sonra kod şehir bu akşam çok güzel bu konuyu sonra okuyacağım yarın görüşürüz'.split(
    ' ',
  ),
};

const HASHTAGS = ['buildinpublic', 'photography', 'opensource', 'travel', 'футбол', 'AI', 'news'];
const LINK_TARGETS = [
  'https://example.com/blog/notes-on-design',
  'https://example.org/2025/launch',
  'https://news.example.net/story/12345',
  'https://docs.example.dev/guide/getting-started',
];

export interface HashtagEntity {
  start: number;
  end: number;
  tag: string;
}
export interface MentionEntity {
  start: number;
  end: number;
  username: string;
  id: string;
}
export interface UrlEntity {
  start: number;
  end: number;
  url: string;
  expanded_url: string;
  display_url: string;
  media_key?: string;
}
export interface TextEntities {
  hashtags: HashtagEntity[];
  mentions: MentionEntity[];
  urls: UrlEntity[];
}

/** Builds text left to right and records each entity at the offset it lands on. */
export class TextBuilder {
  text = '';
  readonly entities: TextEntities = { hashtags: [], mentions: [], urls: [] };

  private space(): void {
    if (this.text !== '' && !this.text.endsWith(' ')) this.text += ' ';
  }

  words(rng: Rng, lang: Language, count: number): this {
    const list = WORDS[lang];
    const separator = lang === 'ja' ? '' : ' ';
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(rng.pick(list));
    // Japanese runs its words together, but still leaves a space after a mention or link.
    this.space();
    this.text += parts.join(separator);
    return this;
  }

  raw(text: string): this {
    this.text += text;
    return this;
  }

  mention(username: string, id: string): this {
    this.space();
    const start = this.text.length;
    this.text += `@${username}`;
    this.entities.mentions.push({ start, end: this.text.length, username, id });
    return this;
  }

  hashtag(rng: Rng): this {
    this.space();
    const tag = rng.pick(HASHTAGS);
    const start = this.text.length;
    this.text += `#${tag}`;
    this.entities.hashtags.push({ start, end: this.text.length, tag });
    return this;
  }

  link(rng: Rng, expandedUrl?: string, mediaKey?: string): UrlEntity {
    this.space();
    const expanded = expandedUrl ?? rng.pick(LINK_TARGETS);
    const url = `https://t.co/${tcoPath(rng)}`;
    const start = this.text.length;
    this.text += url;
    const display = expanded.replace(/^https?:\/\//, '');
    const entity: UrlEntity = {
      start,
      end: this.text.length,
      url,
      expanded_url: expanded,
      display_url: display.length > 26 ? `${display.slice(0, 25)}…` : display,
    };
    if (mediaKey !== undefined) entity.media_key = mediaKey;
    this.entities.urls.push(entity);
    return entity;
  }
}

const TCO_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function tcoPath(rng: Rng): string {
  let out = '';
  for (let i = 0; i < 10; i++) out += TCO_ALPHABET[rng.int(0, TCO_ALPHABET.length - 1)];
  return out;
}

/** A pbs.twimg.com style media file name (15 url-safe characters). */
export function mediaFileName(rng: Rng): string {
  const alphabet = `${TCO_ALPHABET}_-`;
  let out = '';
  for (let i = 0; i < 15; i++) out += alphabet[rng.int(0, alphabet.length - 1)];
  return out;
}

/** Entities whose end lies within `length` characters (for a truncated `text`). */
export function entitiesWithin(entities: TextEntities, length: number): TextEntities {
  return {
    hashtags: entities.hashtags.filter((entity) => entity.end <= length),
    mentions: entities.mentions.filter((entity) => entity.end <= length),
    urls: entities.urls.filter((entity) => entity.end <= length),
  };
}
