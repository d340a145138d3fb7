//! Chroma-key segmentation: the person is whatever is not the backdrop colour.
//! Pixels are compared in the CbCr plane (BT.601): a pixel's chroma is split
//! into the part along the key's chroma and the part across it. Shadows and
//! highlights on the screen only scale the first, so they key out too, while
//! neutral and other colours (skin, hair, clothes) score low. A ramp between
//! two scores softens the edge.

use crate::settings::segmenter::ChromaKey;

fn cbcr(r: f32, g: f32, b: f32) -> (f32, f32) {
    (
        -0.168736 * r - 0.331264 * g + 0.5 * b,
        0.5 * r - 0.418688 * g - 0.081312 * b,
    )
}

/// 8-bit person mask of an RGBA image (255 = person) against `key`.
pub fn mask(key: &ChromaKey, rgba: &[u8]) -> Vec<u8> {
    let [kr, kg, kb] = key.rgb.map(|v| v as f32 / 255.0);
    let (kcb, kcr) = cbcr(kr, kg, kb);
    let klen = (kcb * kcb + kcr * kcr).sqrt().max(1e-3);
    let (ux, uy) = (kcb / klen, kcr / klen);
    let span = (key.backdrop_above - key.person_below).max(1e-3);
    rgba.chunks_exact(4)
        .map(|px| {
            let (cb, cr) = cbcr(
                px[0] as f32 / 255.0,
                px[1] as f32 / 255.0,
                px[2] as f32 / 255.0,
            );
            let along = cb * ux + cr * uy;
            let across = (cb * uy - cr * ux).abs();
            let score = (along - 1.5 * across) / klen;
            let backdrop = ((score - key.person_below) / span).clamp(0.0, 1.0);
            ((1.0 - backdrop) * 255.0).round() as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_out_the_screen_in_light_and_shadow_and_keeps_people() {
        let k = ChromaKey::GREEN;
        let px = |r, g, b| mask(&k, &[r, g, b, 255])[0];
        assert_eq!(px(0, 177, 64), 0, "the screen");
        assert_eq!(px(0, 110, 40), 0, "the screen in shadow");
        assert_eq!(px(60, 230, 110), 0, "the screen lit brightly");
        assert_eq!(px(224, 172, 150), 255, "skin");
        assert_eq!(px(40, 30, 30), 255, "dark hair");
        assert_eq!(px(250, 250, 250), 255, "a white shirt");
    }
}
