import { describe, expect, it } from 'vitest';
import { FACE_SIZES, generateMedia } from './media.ts';

describe('generateMedia', () => {
  const photos = Array.from({ length: 200 }, (_, i) =>
    generateMedia(42, i % 7, i, i % 4, 'photo', Date.UTC(2025, 4, 1) + i * 60_000),
  );

  it('scales the original faces into every size by the width ratio', () => {
    const withFaces = photos.filter((photo) => photo.faces.orig.length > 0);
    expect(withFaces.length).toBeGreaterThan(100);
    for (const photo of withFaces) {
      for (const size of ['large', 'medium', 'small'] as const) {
        const scale = photo.sizes[size].w / photo.width;
        expect(photo.faces[size]).toEqual(
          photo.faces.orig.map((face) => ({
            x: Math.floor(face.x * scale),
            y: Math.floor(face.y * scale),
            w: Math.floor(face.w * scale),
            h: Math.floor(face.h * scale),
          })),
        );
      }
      for (const face of photo.faces.orig) {
        expect(face.x + face.w).toBeLessThanOrEqual(photo.width);
        expect(face.y + face.h).toBeLessThanOrEqual(photo.height);
      }
    }
    expect(FACE_SIZES).toEqual(['orig', 'large', 'medium', 'small']);
  });

  it('crops five focus rects inside the image with X’s aspect ratios', () => {
    for (const photo of photos) {
      expect(photo.focusRects).toHaveLength(5);
      for (const rect of photo.focusRects) {
        expect(rect.x).toBeGreaterThanOrEqual(0);
        expect(rect.y).toBeGreaterThanOrEqual(0);
        expect(rect.x + rect.w).toBeLessThanOrEqual(photo.width);
        expect(rect.y + rect.h).toBeLessThanOrEqual(photo.height);
      }
      const [wide, square, , tall, whole] = photo.focusRects;
      expect(Math.abs(wide!.w / wide!.h - 16 / 9)).toBeLessThan(0.02);
      expect(Math.abs(square!.w - square!.h)).toBeLessThanOrEqual(1);
      expect(Math.abs(tall!.w / tall!.h - 0.5)).toBeLessThan(0.02);
      expect(whole).toEqual({ x: 0, y: 0, w: photo.width, h: photo.height });
    }
  });

  it('gives videos variants and unique media keys by type', () => {
    const video = generateMedia(42, 1, 2, 0, 'video', Date.UTC(2025, 4, 1));
    const gif = generateMedia(42, 1, 3, 0, 'animated_gif', Date.UTC(2025, 4, 1));
    expect(video.mediaKey).toMatch(/^7_\d+$/);
    expect(gif.mediaKey).toMatch(/^16_\d+$/);
    expect(video.variants?.some((variant) => variant.content_type === 'video/mp4')).toBe(true);
    expect(video.durationMs).toBeGreaterThan(0);
    expect(new Set(photos.map((photo) => photo.mediaKey)).size).toBe(photos.length);
  });
});
