import { Rng } from './prng.ts';
import { snowflakeAt } from './snowflake.ts';
import { mediaFileName } from './text.ts';

/**
 * Photos, videos and GIFs. A photo's faces are drawn once at the original size and scaled
 * into every size the way X's `features.{orig,large,medium,small}` are (compare the three
 * photos of ../../shared/fixtures/real/agntdata/user_medias_docs_example.json); focus rects
 * are the five crops X computes (16:9, 1:1, 7:8, 1:2, whole image) around the faces.
 */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type FaceSize = 'orig' | 'large' | 'medium' | 'small';
export const FACE_SIZES: readonly FaceSize[] = ['orig', 'large', 'medium', 'small'];

export interface SizeInfo {
  w: number;
  h: number;
  resize: 'fit' | 'crop';
}

export interface MediaVariant {
  bit_rate?: number;
  content_type: string;
  url: string;
}

export type MediaType = 'photo' | 'video' | 'animated_gif';

export interface SandboxMedia {
  mediaKey: string;
  id: string;
  type: MediaType;
  /** Photo file; for video and GIF, the poster frame. */
  imageUrl: string;
  width: number;
  height: number;
  altText: string | null;
  durationMs: number | null;
  variants: MediaVariant[] | null;
  /** Views a video reaches in the long run (grows toward it like the tweet metrics). */
  viewsFinal: number | null;
  sizes: { large: SizeInfo; medium: SizeInfo; small: SizeInfo; thumb: SizeInfo };
  faces: Record<FaceSize, Rect[]>;
  focusRects: Rect[];
  /** The X JSON of this media for one field selection and metrics minute (render cache). */
  xJson?: { key: string; json: Buffer } | undefined;
}

const PHOTO_DIMENSIONS: readonly [number, number][] = [
  [1080, 1350],
  [1200, 1600],
  [2048, 1366],
  [4032, 3024],
  [1100, 1705],
  [1920, 1080],
  [3000, 4000],
  [1070, 1478],
  [800, 800],
];
const VIDEO_DIMENSIONS: readonly [number, number][] = [
  [1280, 720],
  [720, 1280],
  [1920, 1080],
  [1080, 1080],
];
const ALT_TEXTS = [
  'A group of friends smiling at the camera',
  'Screenshot of the new dashboard',
  'Two people standing on a pier at sunset',
  'Portrait in front of a brick wall',
];

function fit(width: number, height: number, max: number): SizeInfo {
  const scale = Math.min(1, max / width, max / height);
  return { w: Math.round(width * scale), h: Math.round(height * scale), resize: 'fit' };
}

function scaleRect(rect: Rect, scale: number): Rect {
  return {
    x: Math.floor(rect.x * scale),
    y: Math.floor(rect.y * scale),
    w: Math.floor(rect.w * scale),
    h: Math.floor(rect.h * scale),
  };
}

function drawFaces(rng: Rng, width: number, height: number): Rect[] {
  const count = rng.chance(0.25) ? 0 : rng.int(1, 6);
  const faces: Rect[] = [];
  const minSide = Math.min(width, height);
  for (let i = 0; i < count; i++) {
    const side = Math.max(12, Math.floor(minSide * (0.03 + rng.next() * 0.3)));
    faces.push({
      x: rng.int(0, width - side),
      y: rng.int(0, height - side),
      w: side,
      h: side,
    });
  }
  return faces;
}

/** The largest rect of aspect `ratio` (w/h) inside the image, centred on (cx, cy), clamped. */
function crop(width: number, height: number, ratio: number, cx: number, cy: number): Rect {
  let w = width;
  let h = Math.round(w / ratio);
  if (h > height) {
    h = height;
    w = Math.round(h * ratio);
  }
  const x = Math.min(Math.max(0, Math.round(cx - w / 2)), width - w);
  const y = Math.min(Math.max(0, Math.round(cy - h / 2)), height - h);
  return { x, y, w, h };
}

function focusRectsFor(width: number, height: number, faces: readonly Rect[]): Rect[] {
  let cx = width / 2;
  let cy = height / 2;
  if (faces.length > 0) {
    cx = faces.reduce((sum, face) => sum + face.x + face.w / 2, 0) / faces.length;
    cy = faces.reduce((sum, face) => sum + face.y + face.h / 2, 0) / faces.length;
  }
  return [16 / 9, 1, 7 / 8, 1 / 2]
    .map((ratio) => crop(width, height, ratio, cx, cy))
    .concat({
      x: 0,
      y: 0,
      w: width,
      h: height,
    });
}

function sizesFor(width: number, height: number): SandboxMedia['sizes'] {
  return {
    large: fit(width, height, 2048),
    medium: fit(width, height, 1200),
    small: fit(width, height, 680),
    thumb: { w: 150, h: 150, resize: 'crop' },
  };
}

const NO_FACES: Record<FaceSize, Rect[]> = { orig: [], large: [], medium: [], small: [] };

/**
 * `low22` keeps media ids unique: tweet ids are strictly increasing per account and each
 * media id sits a fixed offset before its tweet, with the position in the low bits.
 */
export function generateMedia(
  seedHash: number,
  accountIndex: number,
  tweetIndex: number,
  position: number,
  type: MediaType,
  tweetTimeMs: number,
): SandboxMedia {
  const rng = Rng.of(seedHash, 7, accountIndex, tweetIndex, position);
  const low22 = ((accountIndex & 0x3fff) << 8) | ((tweetIndex & 0x3f) << 2) | (position & 3);
  const id = snowflakeAt(tweetTimeMs - 1500, low22).toString();
  if (type === 'photo') {
    const [width, height] = rng.pick(PHOTO_DIMENSIONS);
    const sizes = sizesFor(width, height);
    const orig = drawFaces(rng, width, height);
    const faces: Record<FaceSize, Rect[]> = {
      orig,
      large: orig.map((face) => scaleRect(face, sizes.large.w / width)),
      medium: orig.map((face) => scaleRect(face, sizes.medium.w / width)),
      small: orig.map((face) => scaleRect(face, sizes.small.w / width)),
    };
    return {
      mediaKey: `3_${id}`,
      id,
      type,
      imageUrl: `https://pbs.twimg.com/media/${mediaFileName(rng)}.jpg`,
      width,
      height,
      altText: rng.chance(0.3) ? rng.pick(ALT_TEXTS) : null,
      durationMs: null,
      variants: null,
      viewsFinal: null,
      sizes,
      faces,
      focusRects: focusRectsFor(width, height, orig),
    };
  }
  if (type === 'animated_gif') {
    const [width, height] = rng.pick(VIDEO_DIMENSIONS);
    const file = mediaFileName(rng);
    return {
      mediaKey: `16_${id}`,
      id,
      type,
      imageUrl: `https://pbs.twimg.com/tweet_video_thumb/${file}.jpg`,
      width: Math.round(width / 3),
      height: Math.round(height / 3),
      altText: null,
      durationMs: null,
      variants: [
        {
          bit_rate: 0,
          content_type: 'video/mp4',
          url: `https://video.twimg.com/tweet_video/${file}.mp4`,
        },
      ],
      viewsFinal: null,
      sizes: sizesFor(Math.round(width / 3), Math.round(height / 3)),
      faces: NO_FACES,
      focusRects: [],
    };
  }
  const [width, height] = rng.pick(VIDEO_DIMENSIONS);
  const base = `https://video.twimg.com/ext_tw_video/${id}/pu/vid`;
  const file = mediaFileName(rng);
  const variants: MediaVariant[] = [
    {
      bit_rate: 2176000,
      content_type: 'video/mp4',
      url: `${base}/avc1/${width}x${height}/${file}.mp4?tag=12`,
    },
    {
      bit_rate: 832000,
      content_type: 'video/mp4',
      url: `${base}/avc1/${Math.round(width / 2)}x${Math.round(height / 2)}/${file}.mp4?tag=12`,
    },
    {
      bit_rate: 288000,
      content_type: 'video/mp4',
      url: `${base}/avc1/${Math.round(width / 3)}x${Math.round(height / 3)}/${file}.mp4?tag=12`,
    },
    {
      content_type: 'application/x-mpegURL',
      url: `https://video.twimg.com/ext_tw_video/${id}/pu/pl/${file}.m3u8?tag=12&container=fmp4`,
    },
  ];
  return {
    mediaKey: `7_${id}`,
    id,
    type,
    imageUrl: `https://pbs.twimg.com/ext_tw_video_thumb/${id}/pu/img/${file}.jpg`,
    width,
    height,
    altText: null,
    durationMs: rng.int(3_000, 600_000),
    variants,
    viewsFinal: rng.int(50, 2_000_000),
    sizes: sizesFor(width, height),
    faces: NO_FACES,
    focusRects: [],
  };
}
