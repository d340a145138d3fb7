//! The astronaut portrait (`daemon/assets/astronaut.png`, public domain, from
//! the scikit-image wheel) and its hand-drawn outline, shared by the
//! perception tests and the face-recall benchmark.
#![allow(dead_code)]

/// The person in the 512x512 portrait, outlined by hand from the picture
/// (hair, face, suit, and the helmet she holds in front of her).
pub const PERSON: &[(f32, f32)] = &[
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

pub fn inside(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
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

/// The 512x512 portrait.
pub fn astronaut_rgba() -> image::RgbaImage {
    image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/astronaut.png"))
        .expect("portrait")
        .to_rgba8()
}
