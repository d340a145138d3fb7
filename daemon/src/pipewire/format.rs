//! What the PipeWire camera offers and the parameters it answers a
//! negotiation with, as SPA pods.
//!
//! Browsers (libwebrtc) read only EnumFormat entries with one fixed size and
//! one fixed pixel format, so every (format, size) pair is its own entry.

use pipewire::spa;
use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
use spa::param::video::VideoFormat;
use spa::param::ParamType;
use spa::pod::serialize::{GenError, PodSerializer};
use spa::pod::{Object, Property, PropertyFlags, Value};
use spa::utils::{Fraction, Rectangle, SpaTypes};

use crate::frame::{PixelFormat, Size};

/// Sizes offered besides the configured one, when smaller than it.
const SMALLER_SIZES: [(u32, u32); 5] = [(960, 540), (640, 480), (640, 360), (424, 240), (320, 240)];

/// Formats offered at every size; the configured one comes first.
const FORMATS: [PixelFormat; 3] = [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::I420];

/// Buffers per stream: enough for two consumers to each hold one while the
/// next is written.
const BUFFERS: i32 = 4;

/// One EnumFormat entry: a pixel format at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub format: PixelFormat,
    pub size: Size,
}

impl Offer {
    /// Bytes per row of the first plane (unpadded).
    pub fn stride(self) -> u32 {
        match self.format {
            PixelFormat::Yuyv => self.size.width * 2,
            PixelFormat::Rgba => self.size.width * 4,
            PixelFormat::Nv12 | PixelFormat::I420 => self.size.width,
        }
    }

    /// Bytes of one frame.
    pub fn frame_len(self) -> usize {
        self.format.frame_len(self.size.width, self.size.height)
    }
}

impl std::fmt::Display for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.format, self.size)
    }
}

/// The SPA name of a pixel format the camera offers.
pub fn spa_format(format: PixelFormat) -> Option<VideoFormat> {
    match format {
        PixelFormat::Yuyv => Some(VideoFormat::YUY2),
        PixelFormat::Nv12 => Some(VideoFormat::NV12),
        PixelFormat::I420 => Some(VideoFormat::I420),
        PixelFormat::Rgba => None,
    }
}

/// Every entry offered for a configured size and format: the configured
/// format first, then the others, at the configured size and then at each
/// common smaller size (the daemon scales for those).
pub fn offers(size: Size, first: PixelFormat) -> Vec<Offer> {
    let mut formats = vec![first];
    formats.extend(FORMATS.iter().copied().filter(|f| *f != first));
    formats.retain(|f| spa_format(*f).is_some());
    let mut sizes = vec![size];
    for (w, h) in SMALLER_SIZES {
        let s = Size::new(w, h);
        if w <= size.width && h <= size.height && s != size {
            sizes.push(s);
        }
    }
    sizes
        .iter()
        .flat_map(|s| {
            formats.iter().map(|f| Offer {
                format: *f,
                size: *s,
            })
        })
        .collect()
}

/// The offer a negotiated format names, if it is one of ours.
pub fn matching(offers: &[Offer], info: &spa::param::video::VideoInfoRaw) -> Option<Offer> {
    let size = Size::new(info.size().width, info.size().height);
    offers
        .iter()
        .copied()
        .find(|o| o.size == size && spa_format(o.format) == Some(info.format()))
}

/// Frame rate as a fraction (integral rates exactly, others in thousandths).
pub fn fraction(fps: f64) -> Fraction {
    if (fps - fps.round()).abs() < 1e-6 {
        Fraction {
            num: fps.round() as u32,
            denom: 1,
        }
    } else {
        Fraction {
            num: (fps * 1000.0).round() as u32,
            denom: 1000,
        }
    }
}

fn serialize(obj: Object) -> Result<Vec<u8>, GenError> {
    Ok(
        PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &Value::Object(obj))?
            .0
            .into_inner(),
    )
}

fn prop(key: u32, value: Value) -> Property {
    Property {
        key,
        flags: PropertyFlags::empty(),
        value,
    }
}

/// One EnumFormat entry: raw video, one format, one size, one rate.
pub fn enum_format_param(offer: Offer, fps: f64) -> Result<Vec<u8>, GenError> {
    let format = spa_format(offer.format).unwrap_or(VideoFormat::YUY2);
    serialize(spa::pod::object!(
        SpaTypes::ObjectParamFormat,
        ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(FormatProperties::VideoFormat, Id, format),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Rectangle,
            Rectangle {
                width: offer.size.width,
                height: offer.size.height
            }
        ),
        spa::pod::property!(FormatProperties::VideoFramerate, Fraction, fraction(fps)),
    ))
}

/// The buffers the stream allocates for a negotiated format: one block,
/// unpadded rows, in shared memory (memfd) or plain memory, never dmabuf.
pub fn buffers_param(offer: Offer) -> Result<Vec<u8>, GenError> {
    let [count, memory] = count_and_memory();
    serialize(Object {
        type_: SpaTypes::ObjectParamBuffers.as_raw(),
        id: ParamType::Buffers.as_raw(),
        properties: vec![
            count,
            prop(spa::sys::SPA_PARAM_BUFFERS_blocks, Value::Int(1)),
            prop(
                spa::sys::SPA_PARAM_BUFFERS_size,
                Value::Int(offer.frame_len() as i32),
            ),
            prop(
                spa::sys::SPA_PARAM_BUFFERS_stride,
                Value::Int(offer.stride() as i32),
            ),
            memory,
        ],
    })
}

/// A `SPA_META_Header` on every buffer (timestamp and sequence number).
pub fn header_meta_param() -> Result<Vec<u8>, GenError> {
    serialize(Object {
        type_: SpaTypes::ObjectParamMeta.as_raw(),
        id: ParamType::Meta.as_raw(),
        properties: vec![
            prop(
                spa::sys::SPA_PARAM_META_type,
                Value::Id(spa::utils::Id(spa::sys::SPA_META_Header)),
            ),
            prop(
                spa::sys::SPA_PARAM_META_size,
                Value::Int(std::mem::size_of::<spa::sys::spa_meta_header>() as i32),
            ),
        ],
    })
}

/// The pixel format a SPA video format names, if ByteMeet reads it.
pub fn from_spa_format(format: VideoFormat) -> Option<PixelFormat> {
    FORMATS
        .iter()
        .copied()
        .find(|f| spa_format(*f) == Some(format))
}

/// What a capture stream (`--source pipewire:NODE`) accepts: raw YUY2,
/// NV12 or I420 (YUY2 first, as most webcams deliver it), any size up to
/// 4096x4096 preferring the configured one, any rate preferring the
/// configured one.
pub fn capture_format_param(size: Size, fps: f64) -> Result<Vec<u8>, GenError> {
    let rate = fraction(fps);
    serialize(spa::pod::object!(
        SpaTypes::ObjectParamFormat,
        ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::YUY2,
            VideoFormat::YUY2,
            VideoFormat::NV12,
            VideoFormat::I420
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle {
                width: size.width,
                height: size.height
            },
            Rectangle {
                width: 2,
                height: 2
            },
            Rectangle {
                width: 4096,
                height: 4096
            }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            rate,
            Fraction { num: 0, denom: 1 },
            Fraction { num: 240, denom: 1 }
        ),
    ))
}

/// The buffers a capture stream takes: mappable memory (memfd or plain),
/// not dmabuf, which would need a GPU import to read.
pub fn capture_buffers_param() -> Result<Vec<u8>, GenError> {
    serialize(Object {
        type_: SpaTypes::ObjectParamBuffers.as_raw(),
        id: ParamType::Buffers.as_raw(),
        properties: count_and_memory().to_vec(),
    })
}

/// How many buffers (a range around `BUFFERS`) and which memory: memfd or
/// plain, never dmabuf.
fn count_and_memory() -> [Property; 2] {
    use spa::utils::{Choice, ChoiceEnum, ChoiceFlags};
    let data_types = (1 << spa::sys::SPA_DATA_MemFd) | (1 << spa::sys::SPA_DATA_MemPtr);
    [
        prop(
            spa::sys::SPA_PARAM_BUFFERS_buffers,
            Value::Choice(spa::pod::ChoiceValue::Int(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Range {
                    default: BUFFERS,
                    min: 2,
                    max: 16,
                },
            ))),
        ),
        prop(
            spa::sys::SPA_PARAM_BUFFERS_dataType,
            Value::Choice(spa::pod::ChoiceValue::Int(Choice(
                ChoiceFlags::empty(),
                ChoiceEnum::Flags {
                    default: data_types,
                    flags: vec![data_types],
                },
            ))),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use spa::pod::deserialize::PodDeserializer;

    #[test]
    fn offers_start_with_the_configured_format_and_size() {
        let o = offers(Size::new(1280, 720), PixelFormat::Nv12);
        assert_eq!(
            o[0],
            Offer {
                format: PixelFormat::Nv12,
                size: Size::new(1280, 720)
            }
        );
        // Every format at every size, once.
        assert_eq!(o.len(), 3 * 6);
        for (i, a) in o.iter().enumerate() {
            assert!(!o[i + 1..].contains(a), "{a} offered twice");
        }
        assert!(o
            .iter()
            .all(|x| x.size.width <= 1280 && x.size.height <= 720));
        // A small configured size offers only what fits in it.
        let small = offers(Size::new(640, 360), PixelFormat::Yuyv);
        let sizes: Vec<Size> = small.iter().map(|x| x.size).collect();
        assert!(sizes.contains(&Size::new(320, 240)));
        assert!(!sizes.contains(&Size::new(640, 480)));
        assert_eq!(small[0].format, PixelFormat::Yuyv);
    }

    #[test]
    fn strides_and_lengths_are_unpadded() {
        let s = Size::new(1280, 720);
        let yuyv = Offer {
            format: PixelFormat::Yuyv,
            size: s,
        };
        assert_eq!((yuyv.stride(), yuyv.frame_len()), (2560, 1280 * 720 * 2));
        let i420 = Offer {
            format: PixelFormat::I420,
            size: s,
        };
        assert_eq!(
            (i420.stride(), i420.frame_len()),
            (1280, 1280 * 720 * 3 / 2)
        );
    }

    #[test]
    fn rates_become_fractions() {
        let f = fraction(30.0);
        assert_eq!((f.num, f.denom), (30, 1));
        let f = fraction(29.97);
        assert_eq!((f.num, f.denom), (29970, 1000));
    }

    #[test]
    fn an_enum_format_pod_reads_back_as_one_fixed_format_and_size() {
        let offer = Offer {
            format: PixelFormat::I420,
            size: Size::new(640, 360),
        };
        let bytes = enum_format_param(offer, 30.0).expect("serialises");
        let (_, value) = PodDeserializer::deserialize_any_from(&bytes).expect("reads back");
        let Value::Object(obj) = value else {
            panic!("not an object: {value:?}");
        };
        assert_eq!(obj.id, ParamType::EnumFormat.as_raw());
        let get = |k: FormatProperties| {
            obj.properties
                .iter()
                .find(|p| p.key == k.as_raw())
                .map(|p| p.value.clone())
        };
        assert_eq!(
            get(FormatProperties::VideoFormat),
            Some(Value::Id(spa::utils::Id(VideoFormat::I420.as_raw())))
        );
        assert_eq!(
            get(FormatProperties::VideoSize),
            Some(Value::Rectangle(Rectangle {
                width: 640,
                height: 360
            }))
        );
        // Fixed values, not choices: libwebrtc ignores ranges.
        assert!(obj
            .properties
            .iter()
            .all(|p| !matches!(p.value, Value::Choice(_))));
    }

    #[test]
    fn buffer_and_meta_params_serialise() {
        let offer = Offer {
            format: PixelFormat::Yuyv,
            size: Size::new(1280, 720),
        };
        let b = buffers_param(offer).expect("buffers");
        let (_, Value::Object(obj)) = PodDeserializer::deserialize_any_from(&b).expect("reads")
        else {
            panic!("not an object");
        };
        let size = obj
            .properties
            .iter()
            .find(|p| p.key == spa::sys::SPA_PARAM_BUFFERS_size)
            .map(|p| p.value.clone());
        assert_eq!(size, Some(Value::Int(1280 * 720 * 2)));
        header_meta_param().expect("meta");
    }
}
