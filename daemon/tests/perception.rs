//! Perception on real photos: MediaPipe's models, run with tract, on the
//! public-domain astronaut portrait shipped in `daemon/assets/` (from the
//! scikit-image wheel), checked against hand-drawn expectations.

use bytemeetd::frame::{Frame, PixelFormat, Size};
use bytemeetd::perception::{Downscaler, Segmenter, SegmenterSpec};

fn astronaut() -> Frame {
    let img = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .expect("portrait")
        .to_rgba8();
    Frame::new(Size::new(512, 512), PixelFormat::Rgba, img.into_raw(), 1)
}

/// The person in the 512x512 portrait, outlined by hand from the picture
/// (hair, face, suit, and the helmet she holds in front of her).
const PERSON: &[(f32, f32)] = &[
    (205., 18.),
    (250., 15.),
    (285., 35.),
    (300., 70.),
    (298., 110.),
    (285., 140.),
    (300., 175.),
    (305., 220.),
    (300., 240.),
    (330., 250.),
    (355., 275.),
    (362., 320.),
    (362., 350.),
    (400., 345.),
    (450., 355.),
    (490., 385.),
    (505., 430.),
    (505., 511.),
    (20., 511.),
    (20., 470.),
    (22., 400.),
    (30., 330.),
    (45., 290.),
    (75., 255.),
    (110., 235.),
    (118., 200.),
    (125., 170.),
    (150., 150.),
    (165., 135.),
    (155., 95.),
    (160., 55.),
    (180., 25.),
];

fn inside(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut hit = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ((xi, yi), (xj, yj)) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            hit = !hit;
        }
        j = i;
    }
    hit
}

/// Mask value at a pixel of a `w` x `h` frame (the mask covers the frame).
fn mask_at(mask: &bytemeetd::perception::Mask, w: u32, h: u32, x: u32, y: u32) -> u8 {
    let mx = (x as u64 * mask.width as u64 / w as u64) as u32;
    let my = (y as u64 * mask.height as u64 / h as u64) as u32;
    mask.data[(my * mask.width + mx) as usize]
}

#[test]
fn the_mask_covers_the_person_and_not_the_background() {
    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("model loads");
    let frame = astronaut();
    let mask = seg
        .segment(&frame, &mut Downscaler::default())
        .expect("segment");
    assert_eq!(mask.seq, 1);
    let (mut both, mut either) = (0u32, 0u32);
    for y in 0..512 {
        for x in 0..512 {
            let truth = inside(PERSON, x as f32 + 0.5, y as f32 + 0.5);
            let found = mask_at(&mask, 512, 512, x, y) > 127;
            both += (truth && found) as u32;
            either += (truth || found) as u32;
        }
    }
    let iou = both as f64 / either as f64;
    eprintln!("IoU with the hand-drawn outline: {iou:.3}");
    assert!(iou >= 0.85, "IoU {iou:.3}");
    // Plain spots: the face is person, the flag and the shuttle are not.
    assert!(mask_at(&mask, 512, 512, 225, 110) > 200, "face");
    assert!(mask_at(&mask, 512, 512, 30, 60) < 50, "flag");
    assert!(mask_at(&mask, 512, 512, 410, 150) < 50, "shuttle");
}

#[test]
fn frames_without_a_person_give_an_empty_mask_not_a_panic() {
    let mut seg = Segmenter::new(&SegmenterSpec::Model).expect("model loads");
    let mut down = Downscaler::default();
    let share = |m: &bytemeetd::perception::Mask| {
        m.data.iter().filter(|&&v| v > 127).count() as f64 / m.data.len() as f64
    };
    let black = Frame::new(
        Size::new(640, 360),
        PixelFormat::Rgba,
        vec![0; 640 * 360 * 4],
        2,
    );
    let m = seg.segment(&black, &mut down).expect("black frame");
    assert!(share(&m) < 0.05, "black frame: {:.3} person", share(&m));
    let tiny = Frame::new(Size::new(2, 2), PixelFormat::Rgba, vec![200; 16], 3);
    let m = seg.segment(&tiny, &mut down).expect("tiny frame");
    assert!(m.data.iter().all(|&v| v == 0));
    let huge = Frame::new(
        Size::new(3840, 2160),
        PixelFormat::Yuyv,
        vec![128; 3840 * 2160 * 2],
        4,
    );
    let m = seg.segment(&huge, &mut down).expect("4K grey frame");
    assert!(share(&m) < 0.05, "grey 4K frame: {:.3} person", share(&m));
}
