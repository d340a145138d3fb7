// The camera's bytes read where they lie: no unpacked copy of the frame.
// Needs the includer to declare `frame: array<u32>`, the frame as uploaded,
// tightly packed as daemon/src/frame.rs lays it out. `in_format` is fixed per
// pipeline (a runtime switch costs every pixel all four branches on a
// software rasteriser): 1 RGBA, 2 YUYV, 3 NV12, 4 I420; 0 = the includer
// reads the filtered texture instead and never calls these.
//#include common.wgsl

override in_format: u32 = 0u;

fn frame_byte(i: u32) -> f32 {
    return f32((frame[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

// The camera pixel (x, y) of a w x h frame, RGB in 0..1.
fn camera(x: u32, y: u32, w: u32, h: u32) -> vec3<f32> {
    switch in_format {
        case 1u: {
            return unpack4x8unorm(frame[y * w + x]).rgb;
        }
        case 2u: {
            // Y0 U Y1 V: a pair of pixels per word (when the pair starts on a
            // word, i.e. always for even widths).
            let pair = y * w + (x & ~1u);
            if ((pair & 1u) == 0u) {
                let word = frame[pair >> 1u];
                let luma = select(word & 0xffu, (word >> 16u) & 0xffu, (x & 1u) == 1u);
                return yuv_to_rgb(f32(luma), f32((word >> 8u) & 0xffu), f32(word >> 24u));
            }
            return yuv_to_rgb(frame_byte((y * w + x) * 2u), frame_byte(pair * 2u + 1u), frame_byte(pair * 2u + 3u));
        }
        case 3u: {
            let c = w * h + (y / 2u) * w + (x & ~1u);
            return yuv_to_rgb(frame_byte(y * w + x), frame_byte(c), frame_byte(c + 1u));
        }
        default: {
            let c = (y / 2u) * (w / 2u) + x / 2u;
            return yuv_to_rgb(frame_byte(y * w + x), frame_byte(w * h + c), frame_byte(w * h + w * h / 4u + c));
        }
    }
}

// The luma of camera pixel (x, y) in a frame w pixels wide. For YUV input
// it is the Y byte alone: BT.601's luma weights cancel U and V, so this
// equals luma(camera(...)) except where a colour clips.
fn camera_luma(x: u32, y: u32, w: u32) -> f32 {
    let i = y * w + x;
    switch in_format {
        case 1u: {
            return luma(unpack4x8unorm(frame[i]).rgb);
        }
        case 2u: {
            return clamp((frame_byte(i * 2u) - 16.0) * (1.164383 / 255.0), 0.0, 1.0);
        }
        default: {
            return clamp((frame_byte(i) - 16.0) * (1.164383 / 255.0), 0.0, 1.0);
        }
    }
}

// The pixels (x, y) and (x + 1, y), x even: one word read for YUYV; for
// NV12 and I420 one word for both lumas and their shared chroma read once.
fn camera_pair(x: u32, y: u32, w: u32, h: u32) -> array<vec3<f32>, 2> {
    let pair = y * w + x;
    if ((in_format == 3u || in_format == 4u) && (pair & 1u) == 0u) {
        let lumas = frame[pair >> 2u] >> ((pair & 3u) * 8u);
        var u: f32;
        var v: f32;
        if (in_format == 3u) {
            let c = w * h + (y / 2u) * w + x;
            u = frame_byte(c);
            v = frame_byte(c + 1u);
        } else {
            let c = (y / 2u) * (w / 2u) + x / 2u;
            u = frame_byte(w * h + c);
            v = frame_byte(w * h + w * h / 4u + c);
        }
        return array<vec3<f32>, 2>(
            yuv_to_rgb(f32(lumas & 0xffu), u, v),
            yuv_to_rgb(f32((lumas >> 8u) & 0xffu), u, v),
        );
    }
    if (in_format == 2u && (pair & 1u) == 0u) {
        let word = frame[pair >> 1u];
        let u = f32((word >> 8u) & 0xffu);
        let v = f32(word >> 24u);
        return array<vec3<f32>, 2>(
            yuv_to_rgb(f32(word & 0xffu), u, v),
            yuv_to_rgb(f32((word >> 16u) & 0xffu), u, v),
        );
    }
    return array<vec3<f32>, 2>(camera(x, y, w, h), camera(x + 1u, y, w, h));
}

// The frame at a point in pixel units (pixel centres at +0.5), bilinear
// between the four nearest pixels, edges clamped: what a linear sampler
// gives on an unpacked texture.
fn camera_bilinear(at: vec2<f32>, w: u32, h: u32) -> vec3<f32> {
    let pos = max(at - 0.5, vec2<f32>(0.0));
    let x0 = min(u32(pos.x), w - 1u);
    let y0 = min(u32(pos.y), h - 1u);
    let x1 = min(x0 + 1u, w - 1u);
    let y1 = min(y0 + 1u, h - 1u);
    let t = clamp(pos - vec2<f32>(f32(x0), f32(y0)), vec2<f32>(0.0), vec2<f32>(1.0));
    let top = mix(camera(x0, y0, w, h), camera(x1, y0, w, h), t.x);
    let bottom = mix(camera(x0, y1, w, h), camera(x1, y1, w, h), t.x);
    return mix(top, bottom, t.y);
}
