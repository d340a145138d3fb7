//! Status cards shown on the outputs when there is no live picture: the idle
//! card while nobody watches, and "camera unavailable" with the reason and fix.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use crate::frame::{Frame, PixelFormat, Size};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// A line of text to draw: where (top-left of its box), how big, what colour.
struct Line<'a> {
    text: &'a str,
    px: f32,
    x: f32,
    y: f32,
    colour: [u8; 3],
}

/// Draws one line, blending glyph coverage over `rgba`.
fn draw_line(rgba: &mut [u8], size: Size, font: &FontRef<'_>, line: Line<'_>) {
    let Line {
        text,
        px,
        x,
        y,
        colour,
    } = line;
    let scale = PxScale::from(px);
    let scaled = font.as_scaled(scale);
    let mut caret = x;
    let baseline = y + scaled.ascent();
    let mut prev = None;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, baseline));
        caret += scaled.h_advance(id);
        prev = Some(id);
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                let px_x = b.min.x as i64 + gx as i64;
                let px_y = b.min.y as i64 + gy as i64;
                if px_x < 0 || px_y < 0 || px_x >= size.width as i64 || px_y >= size.height as i64 {
                    return;
                }
                let i = (px_y as usize * size.width as usize + px_x as usize) * 4;
                let a = cov.clamp(0.0, 1.0);
                for c in 0..3 {
                    let dst = rgba[i + c] as f32;
                    rgba[i + c] = (dst + (colour[c] as f32 - dst) * a).round() as u8;
                }
            });
        }
    }
}

fn line_width(font: &FontRef<'_>, px: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars()
        .map(|c| scaled.h_advance(font.glyph_id(c)))
        .sum()
}

/// Splits `text` into lines no wider than `max_w` at `px`.
fn wrap(font: &FontRef<'_>, px: f32, text: &str, max_w: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line_width(font, px, &candidate) > max_w && !line.is_empty() {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A card: a dark blue-violet gradient, a title and a wrapped message, centred.
pub fn card(size: Size, title: &str, message: &str) -> Frame {
    let (w, h) = (size.width as usize, size.height as usize);
    let mut rgba = vec![0u8; w * h * 4];
    for y in 0..h {
        let t = y as f32 / h as f32;
        let row = [
            (18.0 + 20.0 * t) as u8,
            (16.0 + 8.0 * t) as u8,
            (40.0 + 30.0 * t) as u8,
            255,
        ];
        for px in rgba[y * w * 4..(y + 1) * w * 4].chunks_exact_mut(4) {
            px.copy_from_slice(&row);
        }
    }
    let Ok(font) = FontRef::try_from_slice(FONT) else {
        return Frame::new(size, PixelFormat::Rgba, rgba, 0);
    };
    let title_px = (h as f32 / 12.0).max(10.0);
    let body_px = (h as f32 / 26.0).max(8.0);
    let max_w = w as f32 * 0.86;
    let body = wrap(&font, body_px, message, max_w);
    let total_h = title_px * 1.4 + body.len() as f32 * body_px * 1.35;
    let mut y = (h as f32 - total_h) / 2.0;
    let tx = (w as f32 - line_width(&font, title_px, title)) / 2.0;
    draw_line(
        &mut rgba,
        size,
        &font,
        Line {
            text: title,
            px: title_px,
            x: tx,
            y,
            colour: [255, 255, 255],
        },
    );
    y += title_px * 1.4;
    for line in &body {
        let x = (w as f32 - line_width(&font, body_px, line)) / 2.0;
        draw_line(
            &mut rgba,
            size,
            &font,
            Line {
                text: line,
                px: body_px,
                x,
                y,
                colour: [200, 200, 235],
            },
        );
        y += body_px * 1.35;
    }
    Frame::new(size, PixelFormat::Rgba, rgba, 0)
}

/// The card shown while nobody watches the virtual camera.
pub fn idle(size: Size) -> Frame {
    card(
        size,
        "ByteMeet",
        "The camera turns on when an app starts watching ByteMeet Camera.",
    )
}

/// The card shown while the camera cannot be used.
pub fn unavailable(size: Size, reason: &str) -> Frame {
    card(size, "Camera unavailable", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_have_text_on_a_dark_background() {
        let size = Size::new(640, 360);
        let f = unavailable(
            size,
            "/dev/video0 went away. Was the camera unplugged? Waiting for it to come back",
        );
        assert_eq!(f.data.len(), 640 * 360 * 4);
        let bright = f
            .data
            .chunks(4)
            .filter(|p| p[0] > 180 && p[1] > 180)
            .count();
        let total = size.pixels();
        assert!(
            bright > total / 200,
            "text is drawn ({bright} bright pixels)"
        );
        assert!(bright < total / 5, "background stays dark");
        // Corners stay background.
        assert!(f.data[0] < 60 && f.data[2] < 80);
    }

    #[test]
    fn long_messages_wrap_inside_the_frame() {
        let font = FontRef::try_from_slice(FONT).expect("font");
        let lines = wrap(&font, 20.0, &"word ".repeat(60), 300.0);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| line_width(&font, 20.0, l) <= 300.0));
        let tiny = idle(Size::new(32, 18));
        assert_eq!(tiny.data.len(), 32 * 18 * 4);
    }
}
