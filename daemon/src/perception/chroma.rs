//! Chroma-key segmentation: the person is whatever is not the backdrop colour.
//! Pixels are compared in the CbCr plane (BT.601): a pixel's chroma is split
//! into the part along the key's chroma and the part across it. Shadows and
//! highlights on the screen only scale the first, so they key out too, while
//! neutral and other colours (skin, hair, clothes) score low. A ramp between
//! two scores softens the edge.

/// A backdrop colour with its tolerances.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChromaKey {
    pub rgb: [u8; 3],
    /// Key score (1 = the key colour itself) at or below which a pixel is all person.
    pub person_below: f32,
    /// Key score at or above which a pixel is all backdrop.
    pub backdrop_above: f32,
}

fn cbcr(r: f32, g: f32, b: f32) -> (f32, f32) {
    (
        -0.168736 * r - 0.331264 * g + 0.5 * b,
        0.5 * r - 0.418688 * g - 0.081312 * b,
    )
}

impl ChromaKey {
    pub const GREEN: ChromaKey = ChromaKey {
        rgb: [0, 177, 64],
        person_below: 0.25,
        backdrop_above: 0.45,
    };
    pub const BLUE: ChromaKey = ChromaKey {
        rgb: [0, 71, 187],
        person_below: 0.25,
        backdrop_above: 0.45,
    };

    /// 8-bit person mask of an RGBA image (255 = person).
    pub fn mask(&self, rgba: &[u8]) -> Vec<u8> {
        let [kr, kg, kb] = self.rgb.map(|v| v as f32 / 255.0);
        let (kcb, kcr) = cbcr(kr, kg, kb);
        let klen = (kcb * kcb + kcr * kcr).sqrt().max(1e-3);
        let (ux, uy) = (kcb / klen, kcr / klen);
        let span = (self.backdrop_above - self.person_below).max(1e-3);
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
                let backdrop = ((score - self.person_below) / span).clamp(0.0, 1.0);
                ((1.0 - backdrop) * 255.0).round() as u8
            })
            .collect()
    }
}

impl std::str::FromStr for ChromaKey {
    type Err = String;

    /// `green`, `blue` or `#RRGGBB`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "green" => return Ok(ChromaKey::GREEN),
            "blue" => return Ok(ChromaKey::BLUE),
            _ => {}
        }
        let hex = s.strip_prefix('#').unwrap_or(s);
        let bad = || format!("chroma key {s:?}: use green, blue or #RRGGBB");
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(ChromaKey {
            rgb: [byte(0)?, byte(2)?, byte(4)?],
            ..ChromaKey::GREEN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_out_the_screen_in_light_and_shadow_and_keeps_people() {
        let k = ChromaKey::GREEN;
        let px = |r, g, b| k.mask(&[r, g, b, 255])[0];
        assert_eq!(px(0, 177, 64), 0, "the screen");
        assert_eq!(px(0, 110, 40), 0, "the screen in shadow");
        assert_eq!(px(60, 230, 110), 0, "the screen lit brightly");
        assert_eq!(px(224, 172, 150), 255, "skin");
        assert_eq!(px(40, 30, 30), 255, "dark hair");
        assert_eq!(px(250, 250, 250), 255, "a white shirt");
    }

    #[test]
    fn parses_names_and_hex() {
        assert_eq!("blue".parse::<ChromaKey>(), Ok(ChromaKey::BLUE));
        assert_eq!(
            "#00FF00".parse::<ChromaKey>().map(|k| k.rgb),
            Ok([0, 255, 0])
        );
        assert!("#0f0".parse::<ChromaKey>().is_err());
        assert!("chartreuse".parse::<ChromaKey>().is_err());
    }
}
