//! Runs one frame through the GPU: upload the camera bytes as they are,
//! filter them into an RGBA texture when a filter is on (filter.wgsl), put a
//! background behind the person (background.wgsl), pack to the output format
//! (pack.wgsl), read back through a ring of mapped buffers (`readback`).
//! Every pass that reads the camera picture decodes the camera's bytes where
//! they lie (decode.wgsl): there is no separate unpacking pass. Pipelines
//! are built once per typed key (`pipelines`); uniforms are `Pod` mirrors of
//! the WGSL structs (`uniforms`); per-size resources are kept until the size
//! changes, so switching effects rebuilds nothing. The engine does no file
//! I/O: the LUT and the background picture come to it decoded.

use super::avatar::{AvatarBox, AvatarGpu};
use super::background::{blur_plan, BlurPlan, FEATHER, GUIDE_RADIUS, MASK_KEEP_NEW};
use super::lut::Lut3d;
use super::pipelines::{BackdropKind, FilterKey, PackKey, Packed, Pipelines, Source};
use super::readback::{Meta, Ring};
use super::uniforms::{self, BackgroundParams, Composite, FilterParams, PackParams, MAX_TAP_PAIRS};
use super::wgpu_util::{dispatch, entry, texture, upload};
use super::{GpuContext, GpuError};
use crate::avatar::{pack::Mode, Drawing};
use crate::frame::{Frame, PixelFormat, Size};
use crate::settings::filter::{self as filters, FilterInfo, FilterSpec};

pub use super::readback::RING;

const WG: u32 = 16;

/// What goes behind the person this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backdrop {
    /// No background effect: the camera picture as it is.
    None,
    /// The room blurred, `strength` as in `BackgroundSpec::Blur`.
    Blur { strength: f32 },
    /// The picture last given to `set_picture` (a scene, image or clip frame).
    Picture,
}

impl Backdrop {
    fn kind(self) -> BackdropKind {
        match self {
            Backdrop::None => BackdropKind::None,
            Backdrop::Blur { .. } => BackdropKind::Blur,
            Backdrop::Picture => BackdropKind::Picture,
        }
    }
}

/// One frame's effects, as the engine applies them.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    /// A filter; `lut` samples the LUT last given to `set_lut`.
    pub filter: Option<&'a FilterSpec>,
    pub backdrop: Backdrop,
    /// An avatar drawn over the result (a full one replaces the person).
    pub avatar: Option<&'a Drawing>,
}

impl Look<'_> {
    pub const PLAIN: Look<'static> = Look {
        filter: None,
        backdrop: Backdrop::None,
        avatar: None,
    };
}

/// Resources that depend on the frame size.
#[derive(Debug)]
struct FrameResources {
    size: Size,
    in_buf: wgpu::Buffer,
    /// Bytes of each frame buffer: an RGBA frame, the largest any format needs.
    buf_len: u64,
    out_buf: wgpu::Buffer,
    ring: Ring,
    filter_group: wgpu::BindGroup,
    /// The filtered picture.
    filtered: wgpu::TextureView,
    picture: wgpu::Texture,
    picture_view: wgpu::TextureView,
}

/// The person mask on the GPU: the newest mask as sent, and two smoothed
/// masks used in turn (one is read as the previous while the other is written).
#[derive(Debug)]
struct MaskTextures {
    width: u32,
    height: u32,
    fresh: wgpu::Texture,
    fresh_view: wgpu::TextureView,
    smoothed: [wgpu::TextureView; 2],
    /// Guided filter: window statistics, coefficients, their means.
    guide: [wgpu::TextureView; 3],
    /// Which smoothed mask is current; None until the first mask is smoothed.
    current: Option<usize>,
    /// A fresh mask was uploaded and is smoothed on the next frame.
    pending: bool,
}

impl MaskTextures {
    fn new(d: &wgpu::Device, width: u32, height: u32) -> MaskTextures {
        use wgpu::TextureUsages as T;
        let fresh = texture(
            d,
            "mask",
            width,
            height,
            wgpu::TextureFormat::R8Unorm,
            T::TEXTURE_BINDING | T::COPY_DST,
        );
        let half = |label: &str| {
            texture(
                d,
                label,
                width,
                height,
                wgpu::TextureFormat::Rgba16Float,
                T::TEXTURE_BINDING | T::STORAGE_BINDING,
            )
            .create_view(&Default::default())
        };
        MaskTextures {
            width,
            height,
            fresh_view: fresh.create_view(&Default::default()),
            fresh,
            smoothed: [half("smoothed mask"), half("smoothed mask")],
            guide: [
                half("guide stats"),
                half("guide coeffs"),
                half("guide mean"),
            ],
            current: None,
            pending: false,
        }
    }

    /// Where this frame smooths the fresh mask into, and the new mask's weight.
    fn smoothing(&self) -> Option<(usize, f32)> {
        match (self.pending, self.current) {
            (false, _) => None,
            (true, None) => Some((0, 1.0)),
            (true, Some(i)) => Some((1 - i, MASK_KEEP_NEW)),
        }
    }
}

/// Bind groups of the background passes and of packing for one (frame size,
/// mask size, blur factor); rebuilt when any of them changes.
#[derive(Debug)]
struct Binds {
    key: (Size, (u32, u32), u32),
    low: Size,
    /// [smoothed mask i] (a blank stand-in without a mask).
    pack: [wgpu::BindGroup; 2],
    /// Reading the guided filter's coefficients.
    pack_guided: wgpu::BindGroup,
    background: Option<BackgroundPasses>,
}

#[derive(Debug)]
struct BackgroundPasses {
    /// Writes smoothed[i] from the fresh mask and smoothed[1 - i].
    smooth: [wgpu::BindGroup; 2],
    /// [smoothed mask i]
    down: [wgpu::BindGroup; 2],
    blur_h: wgpu::BindGroup,
    blur_v: wgpu::BindGroup,
    /// [smoothed mask i]
    guide_stats: [wgpu::BindGroup; 2],
    guide_coeffs: wgpu::BindGroup,
    guide_mean: wgpu::BindGroup,
}

/// The uniform buffers, one per WGSL uniform struct.
#[derive(Debug)]
struct Params {
    filter: wgpu::Buffer,
    pack: wgpu::Buffer,
    composite: wgpu::Buffer,
    background: wgpu::Buffer,
}

/// The LUT texture of the `lut` filter.
#[derive(Debug)]
struct LoadedLut {
    size: usize,
    view: wgpu::TextureView,
}

/// Everything one frame's passes are specialised for, decided before any
/// GPU work is recorded.
#[derive(Debug, Clone, Copy)]
struct FramePlan<'a> {
    size: Size,
    filter: Option<(&'static FilterInfo, [f32; 4], FilterKey)>,
    source: Source,
    backdrop: Backdrop,
    blur: BlurPlan,
    main: PackKey,
    /// The avatar's box and its drawing.
    avatar: Option<(AvatarBox, &'a Drawing)>,
}

/// The effect engine on one GPU.
#[derive(Debug)]
pub struct GpuEngine {
    ctx: GpuContext,
    pipelines: Pipelines,
    params: Params,
    avatar: AvatarGpu,
    /// A 1x1 stand-in bound where no mask or blur texture exists yet.
    blank: wgpu::TextureView,
    sampler: wgpu::Sampler,
    lut: LoadedLut,
    sized: Option<FrameResources>,
    mask: Option<MaskTextures>,
    binds: Option<Binds>,
    /// Low-res textures of the blur, for (size, factor).
    low: Option<(Size, u32, [wgpu::TextureView; 2])>,
}

fn lut_texture(ctx: &GpuContext, lut: &Lut3d) -> wgpu::TextureView {
    let n = lut.size as u32;
    let tex = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("lut"),
        size: wgpu::Extent3d {
            width: n,
            height: n,
            depth_or_array_layers: n,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    upload(&ctx.queue, &tex, &lut.rgba8(), (n, n, n), 4);
    tex.create_view(&Default::default())
}

fn groups(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(WG), height.div_ceil(WG))
}

impl GpuEngine {
    pub fn new(ctx: GpuContext) -> Result<Self, GpuError> {
        let d = &ctx.device;
        let avatar = AvatarGpu::new(d)?;
        let pipelines = Pipelines::new(d, &avatar.pack_layout)?;
        let blank = texture(
            d,
            "blank",
            1,
            1,
            wgpu::TextureFormat::Rgba16Float,
            wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&Default::default());
        let sampler = d.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("linear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let params = Params {
            filter: uniforms::buffer::<FilterParams>(d, "filter params"),
            pack: uniforms::buffer::<PackParams>(d, "pack params"),
            composite: uniforms::buffer::<Composite>(d, "composite params"),
            background: uniforms::buffer::<BackgroundParams>(d, "background params"),
        };
        // The feather is a constant: written once.
        let composite = Composite {
            feather: FEATHER,
            ..Default::default()
        };
        uniforms::write(&ctx.queue, &params.composite, &composite);
        let lut = LoadedLut {
            size: 2,
            view: lut_texture(&ctx, &Lut3d::identity(2)),
        };
        Ok(GpuEngine {
            ctx,
            pipelines,
            params,
            avatar,
            blank,
            sampler,
            lut,
            sized: None,
            mask: None,
            binds: None,
            low: None,
        })
    }

    pub fn adapter(&self) -> String {
        super::describe(&self.ctx.info)
    }

    /// Why the device under this engine was lost, once it has been: the
    /// engine is then useless and must be made again.
    pub fn lost(&self) -> Option<String> {
        self.ctx.lost()
    }

    /// Loses the device on purpose (fault injection; see `GpuContext::destroy`).
    pub fn destroy_device(&self) {
        self.ctx.destroy();
    }

    fn ensure_size(&mut self, size: Size) {
        if self.sized.as_ref().is_some_and(|s| s.size == size) {
            return;
        }
        // Frames still in flight were read from the old buffers: let them land first.
        self.drain();
        let d = &self.ctx.device;
        let buf_len =
            (PixelFormat::Rgba.frame_len(size.width, size.height) as u64).next_multiple_of(4);
        let buf = |label: &str, usage: wgpu::BufferUsages| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: buf_len,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        use wgpu::TextureUsages as T;
        let in_buf = buf("frame in", U::STORAGE | U::COPY_DST);
        let out_buf = buf("frame out", U::STORAGE | U::COPY_SRC);
        let (w, h) = (size.width, size.height);
        let rgba = wgpu::TextureFormat::Rgba8Unorm;
        let filtered = texture(
            d,
            "filtered",
            w,
            h,
            rgba,
            T::TEXTURE_BINDING | T::STORAGE_BINDING,
        )
        .create_view(&Default::default());
        let picture = texture(d, "picture", w, h, rgba, T::TEXTURE_BINDING | T::COPY_DST);
        let picture_view = picture.create_view(&Default::default());
        let filter_group = self.filter_group(&filtered, &in_buf);
        self.binds = None;
        self.sized = Some(FrameResources {
            size,
            ring: Ring::new(d, buf_len),
            in_buf,
            buf_len,
            out_buf,
            filter_group,
            filtered,
            picture,
            picture_view,
        });
    }

    fn filter_group(&self, filtered: &wgpu::TextureView, in_buf: &wgpu::Buffer) -> wgpu::BindGroup {
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("filter"),
                layout: self.pipelines.filter_layout(),
                entries: &[
                    entry(0, self.params.filter.as_entire_binding()),
                    entry(2, wgpu::BindingResource::TextureView(filtered)),
                    entry(3, wgpu::BindingResource::TextureView(&self.lut.view)),
                    entry(4, wgpu::BindingResource::Sampler(&self.sampler)),
                    entry(5, in_buf.as_entire_binding()),
                ],
            })
    }

    /// Compiles pipelines now, so that switching effects later never waits
    /// for the shader compiler. For warm-ups off the frame path. `filtered`:
    /// every filter for frames in these formats, and the later passes that
    /// read a filtered picture; `direct`: the passes that read frames in these
    /// formats without a filter. Each filter is then run once on a small
    /// frame. Returns early once `stop` is set (checked before each pipeline
    /// and each run).
    pub fn precompile(
        &mut self,
        filtered: &[PixelFormat],
        direct: &[PixelFormat],
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
        for &input in filtered {
            for filter in filters::FILTERS {
                if stopped() {
                    return;
                }
                self.pipelines.ensure_filter(FilterKey {
                    filter: filter.id,
                    input,
                });
            }
        }
        let texture = (!filtered.is_empty()).then_some(Source::Filtered);
        let sources: Vec<Source> = texture
            .into_iter()
            .chain(direct.iter().map(|&f| Source::Camera(f)))
            .collect();
        for &source in &sources {
            self.pipelines.ensure_source(source);
            for key in PackKey::every(source) {
                if stopped() {
                    return;
                }
                self.pipelines.ensure_pack(key);
            }
        }
        // Software drivers (lavapipe) make a pipeline's machine code at its
        // first dispatch, not when it is created: run every filter once on a
        // small frame, and the pass after it once per output format, so the
        // first frame a user filters does not wait for that either.
        let size = Size::new(16, 16);
        for &f in filtered {
            let frame = Frame::new(size, f, vec![128; f.frame_len(size.width, size.height)], 0);
            for (filter, packed) in filters::FILTERS.iter().zip(Packed::ALL.iter().cycle()) {
                if stopped() {
                    return;
                }
                let spec = FilterSpec {
                    name: filter.name.to_string(),
                    params: Default::default(),
                    lut: None,
                };
                let look = Look {
                    filter: Some(&spec),
                    ..Look::PLAIN
                };
                if let Err(e) = self.process(&frame, look, 0, packed.format()) {
                    tracing::debug!("warm-up run of {}: {e}", filter.name);
                }
            }
        }
    }

    /// Makes `lut` the LUT the `lut` filter samples (parsed off the frame path).
    pub fn set_lut(&mut self, lut: &Lut3d) {
        self.lut = LoadedLut {
            size: lut.size,
            view: lut_texture(&self.ctx, lut),
        };
        if let Some(sz) = self.sized.as_ref() {
            // The filter bind group holds the LUT view.
            let group = self.filter_group(&sz.filtered, &sz.in_buf);
            if let Some(sz) = self.sized.as_mut() {
                sz.filter_group = group;
            }
        }
    }

    /// Hands the GPU a new person mask (8-bit, 0 = background, 255 = person),
    /// of any size; it is smoothed into the running mask with the next frame.
    pub fn set_mask(&mut self, mask: &[u8], width: u32, height: u32) -> Result<(), GpuError> {
        if width == 0 || height == 0 || mask.len() != (width * height) as usize {
            return Err(GpuError::Failed(format!(
                "a {width}x{height} mask needs {} bytes, got {}",
                width as u64 * height as u64,
                mask.len()
            )));
        }
        if self
            .mask
            .as_ref()
            .is_none_or(|m| (m.width, m.height) != (width, height))
        {
            self.mask = Some(MaskTextures::new(&self.ctx.device, width, height));
            self.binds = None;
        }
        if let Some(m) = self.mask.as_mut() {
            upload(&self.ctx.queue, &m.fresh, mask, (width, height, 1), 1);
            m.pending = true;
        }
        Ok(())
    }

    /// Forgets the person mask (the source changed): backgrounds wait for a new one.
    pub fn clear_mask(&mut self) {
        if let Some(m) = self.mask.as_mut() {
            m.current = None;
            m.pending = false;
        }
    }

    /// True once a mask has arrived, i.e. when a background can be applied.
    pub fn has_mask(&self) -> bool {
        self.mask
            .as_ref()
            .is_some_and(|m| m.current.is_some() || m.pending)
    }

    /// Sets the picture behind the person: RGBA8 at exactly the frame size
    /// (scenes, images and clip frames are fitted on the CPU first).
    pub fn set_picture(&mut self, rgba: &[u8], size: Size) -> Result<(), GpuError> {
        if rgba.len() != size.pixels() * 4 {
            return Err(GpuError::Failed(format!(
                "a {size} picture needs {} bytes, got {}",
                size.pixels() * 4,
                rgba.len()
            )));
        }
        self.ensure_size(size);
        let Some(sz) = self.sized.as_ref() else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        upload(
            &self.ctx.queue,
            &sz.picture,
            rgba,
            (size.width, size.height, 1),
            4,
        );
        Ok(())
    }

    /// Builds the bind groups for the current frame size, mask and blur plan.
    fn ensure_binds(&mut self, plan: &BlurPlan) {
        let Some(sz) = self.sized.as_ref() else {
            return;
        };
        let mask = self.mask.as_ref();
        let key = (
            sz.size,
            mask.map_or((0, 0), |m| (m.width, m.height)),
            plan.factor,
        );
        if self.binds.as_ref().is_some_and(|b| b.key == key) {
            return;
        }
        let d = &self.ctx.device;
        if self
            .low
            .as_ref()
            .is_none_or(|(s, f, _)| (*s, *f) != (sz.size, plan.factor))
        {
            use wgpu::TextureUsages as T;
            let low = [0, 1].map(|_| {
                texture(
                    d,
                    "blur",
                    plan.low.width,
                    plan.low.height,
                    wgpu::TextureFormat::Rgba16Float,
                    T::TEXTURE_BINDING | T::STORAGE_BINDING,
                )
                .create_view(&Default::default())
            });
            self.low = Some((sz.size, plan.factor, low));
        }
        let Some((_, _, low)) = self.low.as_ref() else {
            return;
        };
        use wgpu::BindingResource::TextureView as V;
        let filtered = &sz.filtered;
        let smoothed = mask.map(|m| [&m.smoothed[0], &m.smoothed[1]]);
        let sm = smoothed.unwrap_or([&self.blank, &self.blank]);
        // Packing reads the guided filter's mean coefficients.
        let guided = mask.map_or(&self.blank, |m| &m.guide[2]);
        let pack_group = |person: &wgpu::TextureView, mask_read: &wgpu::TextureView| {
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pack"),
                layout: self.pipelines.pack_layout(),
                entries: &[
                    entry(0, self.params.pack.as_entire_binding()),
                    entry(1, V(person)),
                    entry(2, sz.out_buf.as_entire_binding()),
                    entry(3, self.params.composite.as_entire_binding()),
                    entry(4, V(mask_read)),
                    entry(5, V(&low[0])),
                    entry(6, V(&sz.picture_view)),
                    entry(7, wgpu::BindingResource::Sampler(&self.sampler)),
                    entry(8, sz.in_buf.as_entire_binding()),
                ],
            })
        };
        let pack = [pack_group(filtered, sm[0]), pack_group(filtered, sm[1])];
        let pack_guided = pack_group(filtered, guided);
        // Every background pass binds all slots; a texture is never both read
        // and written in one pass.
        let background = mask.map(|mask| {
            let group = |person: &wgpu::TextureView,
                         mask_read: &wgpu::TextureView,
                         low_read: &wgpu::TextureView,
                         half_write: &wgpu::TextureView| {
                d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("background"),
                    layout: self.pipelines.background_layout(),
                    entries: &[
                        entry(0, self.params.background.as_entire_binding()),
                        entry(1, V(person)),
                        entry(2, V(&mask.fresh_view)),
                        entry(3, V(mask_read)),
                        entry(4, V(low_read)),
                        entry(6, wgpu::BindingResource::Sampler(&self.sampler)),
                        entry(7, V(half_write)),
                        entry(8, sz.in_buf.as_entire_binding()),
                    ],
                })
            };
            BackgroundPasses {
                smooth: [
                    group(filtered, sm[1], &low[0], sm[0]),
                    group(filtered, sm[0], &low[0], sm[1]),
                ],
                down: [0, 1].map(|i| group(filtered, sm[i], &low[1], &low[0])),
                blur_h: group(filtered, sm[0], &low[0], &low[1]),
                blur_v: group(filtered, sm[0], &low[1], &low[0]),
                guide_stats: [0, 1].map(|i| group(filtered, sm[i], &mask.guide[1], &mask.guide[0])),
                guide_coeffs: group(filtered, sm[0], &mask.guide[0], &mask.guide[1]),
                guide_mean: group(filtered, sm[0], &mask.guide[1], &mask.guide[2]),
            }
        });
        self.binds = Some(Binds {
            key,
            low: plan.low,
            pack,
            pack_guided,
            background,
        });
    }

    /// Applies `look` to `frame` and returns it in `out`, waiting for the GPU.
    /// `frame_no` drives time-based effects.
    pub fn process(
        &mut self,
        frame: &Frame,
        look: Look<'_>,
        frame_no: u32,
        out: PixelFormat,
    ) -> Result<Frame, GpuError> {
        self.drain();
        self.submit(frame, look, frame_no, out)?;
        self.collect(true)
            .unwrap_or_else(|| Err(GpuError::Failed("frame lost on the GPU".into())))
    }

    /// Frames submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.sized.as_ref().map_or(0, |s| s.ring.len())
    }

    /// Waits for every frame in flight and drops them (used before resources change).
    fn drain(&mut self) {
        while self.collect(true).is_some() {}
    }

    /// Decides what this frame's passes are specialised for and makes sure
    /// every pipeline and resource it needs exists.
    fn plan<'a>(
        &mut self,
        frame: &Frame,
        look: Look<'a>,
        out: PixelFormat,
    ) -> Result<FramePlan<'a>, GpuError> {
        let filter = match look.filter {
            Some(spec) => {
                let info = filters::find(&spec.name)
                    .ok_or_else(|| GpuError::Failed(format!("unknown filter {}", spec.name)))?;
                let key = FilterKey {
                    filter: info.id,
                    input: frame.format,
                };
                self.pipelines.ensure_filter(key);
                Some((info, spec.values(info), key))
            }
            None => None,
        };
        // After a filter the later passes read its picture; without one they
        // read the camera's bytes.
        let source = match filter {
            Some(_) => Source::Filtered,
            None => Source::Camera(frame.format),
        };
        self.pipelines.ensure_source(source);
        let size = frame.size;
        self.ensure_size(size);
        // A full avatar replaces the person: it needs a picture behind it, no mask.
        let full = look
            .avatar
            .is_some_and(|a| a.mode == Mode::Full && look.backdrop == Backdrop::Picture);
        // Without a mask there is nobody to put in front of a background.
        let backdrop = if self.has_mask() || full {
            look.backdrop
        } else {
            Backdrop::None
        };
        let blur = match backdrop {
            Backdrop::Blur { strength } => blur_plan(strength, size),
            // Not blurring: any small plan will do for the (unused) blur textures.
            _ => self
                .binds
                .as_ref()
                .filter(|b| b.key.0 == size)
                .map(|b| BlurPlan {
                    factor: b.key.2,
                    low: b.low,
                    sigma: 1.0,
                    radius: 1,
                })
                .unwrap_or_else(|| blur_plan(crate::settings::background::DEFAULT_BLUR, size)),
        };
        self.ensure_binds(&blur);
        let main = PackKey {
            packed: Packed::for_output(out, size),
            backdrop: backdrop.kind(),
            full,
            avatar_pass: false,
            source,
        };
        self.pipelines.ensure_pack(main);
        let avatar = look
            .avatar
            .and_then(|a| AvatarBox::new(a.bounds, size).map(|b| (b, a)));
        if avatar.is_some() {
            self.pipelines.ensure_pack(PackKey {
                avatar_pass: true,
                ..main
            });
        }
        Ok(FramePlan {
            size,
            filter,
            source,
            backdrop,
            blur,
            main,
            avatar,
        })
    }

    /// Writes this frame's uniforms and camera bytes.
    fn write_inputs(
        &self,
        frame: &Frame,
        plan: &FramePlan<'_>,
        frame_no: u32,
    ) -> Result<(), GpuError> {
        let (Some(sz), Some(binds)) = (self.sized.as_ref(), self.binds.as_ref()) else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        let q = &self.ctx.queue;
        let (width, height) = (plan.size.width, plan.size.height);
        // Upload the bytes as they came (YUV stays YUV: fewer bytes to move).
        let len = frame.data.len().min(sz.buf_len as usize);
        let aligned = len / 4 * 4;
        q.write_buffer(&sz.in_buf, 0, &frame.data[..aligned]);
        if aligned < len {
            let mut tail = [0u8; 4];
            tail[..len - aligned].copy_from_slice(&frame.data[aligned..len]);
            q.write_buffer(&sz.in_buf, aligned as u64, &tail);
        }
        let pack = PackParams {
            width,
            height,
            ..Default::default()
        };
        uniforms::write(q, &self.params.pack, &pack);
        if let Some((info, v, _)) = plan.filter {
            let params = FilterParams {
                width,
                height,
                frame: frame_no,
                p0: v[0],
                // The lut filter's second value is the LUT's size.
                p1: if info.name == "lut" {
                    self.lut.size as f32
                } else {
                    v[1]
                },
                p2: v[2],
                p3: v[3],
                ..Default::default()
            };
            uniforms::write(q, &self.params.filter, &params);
        }
        if let Some(mask) = self.mask.as_ref() {
            let (center, pairs) = plan.blur.tap_pairs();
            let mut taps = [[0.0f32; 4]; MAX_TAP_PAIRS / 2];
            for (i, (offset, weight)) in pairs.iter().take(MAX_TAP_PAIRS).enumerate() {
                taps[i / 2][(i % 2) * 2] = *offset;
                taps[i / 2][(i % 2) * 2 + 1] = *weight;
            }
            let params = BackgroundParams {
                width,
                height,
                low_width: binds.low.width,
                low_height: binds.low.height,
                mask_width: mask.width,
                mask_height: mask.height,
                factor: plan.blur.factor,
                pairs: plan.blur.radius.div_ceil(2),
                feather: FEATHER,
                keep_new: mask.smoothing().map_or(MASK_KEEP_NEW, |(_, k)| k),
                center,
                guide_radius: GUIDE_RADIUS,
                taps,
            };
            uniforms::write(q, &self.params.background, &params);
        }
        Ok(())
    }

    /// Records the background passes: the mask smoothed when a new one came,
    /// then the guided filter (pictures) or the blur (blur).
    fn record_background(&mut self, pass: &mut wgpu::ComputePass<'_>, plan: &FramePlan<'_>) {
        let (Some(mask), Some(passes)) = (
            self.mask.as_mut(),
            self.binds.as_ref().and_then(|b| b.background.as_ref()),
        ) else {
            return;
        };
        let at_mask = groups(mask.width, mask.height);
        let fixed = &self.pipelines.fixed;
        if let Some((into, _)) = mask.smoothing() {
            dispatch(pass, &fixed.smooth, &passes.smooth[into], at_mask);
            mask.current = Some(into);
            mask.pending = false;
        }
        let cur = mask.current.unwrap_or(0);
        match plan.backdrop {
            Backdrop::Picture => {
                if let Some(stats) = self.pipelines.guide_stats(plan.source) {
                    // The guide is this frame: refit every frame.
                    dispatch(pass, stats, &passes.guide_stats[cur], at_mask);
                    dispatch(pass, &fixed.guide_coeffs, &passes.guide_coeffs, at_mask);
                    dispatch(pass, &fixed.guide_mean, &passes.guide_mean, at_mask);
                }
            }
            Backdrop::Blur { .. } => {
                if let Some(down) = self.pipelines.down(plan.source) {
                    let low = plan.blur.low;
                    let at_low = groups(low.width, low.height);
                    dispatch(pass, down, &passes.down[cur], at_low);
                    dispatch(pass, &fixed.blur_h, &passes.blur_h, at_low);
                    dispatch(pass, &fixed.blur_v, &passes.blur_v, at_low);
                }
            }
            Backdrop::None => {}
        }
    }

    /// Records and submits the GPU work for one frame; its result comes back
    /// through `collect`. With `RING` readback buffers, up to `RING - 1`
    /// frames may be in flight; a full ring waits for the oldest.
    pub fn submit(
        &mut self,
        frame: &Frame,
        look: Look<'_>,
        frame_no: u32,
        out: PixelFormat,
    ) -> Result<(), GpuError> {
        let plan = self.plan(frame, look, out)?;
        let packed = plan.main.packed;
        let worn = match plan.avatar {
            Some((b, drawing)) => {
                let prepared = self.avatar.prepare(
                    &self.ctx,
                    &self.sampler,
                    drawing,
                    plan.size,
                    b,
                    packed.block(),
                )?;
                Some((b, prepared))
            }
            None => None,
        };
        if self.in_flight() >= RING - 1 {
            // The oldest frame is dropped here only if its caller never collects.
            let _ = self.collect(true);
        }
        self.write_inputs(frame, &plan, frame_no)?;
        let (w, h) = (plan.size.width, plan.size.height);
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let full = groups(w, h);
            if let (Some((_, _, key)), Some(sz)) = (plan.filter, self.sized.as_ref()) {
                if let Some(pipe) = self.pipelines.filter(&key) {
                    dispatch(&mut pass, pipe, &sz.filter_group, full);
                }
            }
            self.record_background(&mut pass, &plan);
            let (Some(binds), Some(main)) = (self.binds.as_ref(), self.pipelines.pack(&plan.main))
            else {
                return Err(GpuError::Failed("frame resources missing".into()));
            };
            // Packing composites the background in the same pass.
            let (bw, bh) = packed.block();
            let at_packed = groups(w.div_ceil(bw), h / bh);
            let cur = self.mask.as_ref().and_then(|m| m.current).unwrap_or(0);
            let group = match plan.backdrop {
                Backdrop::Picture => &binds.pack_guided,
                _ => &binds.pack[cur],
            };
            // With an avatar the main pass leaves its box to the avatar pass.
            let main_group = match (&worn, self.avatar.pack_group()) {
                (Some(_), Some(g)) => g,
                _ => &self.avatar.blank,
            };
            pass.set_bind_group(1, main_group, &[]);
            dispatch(&mut pass, main, group, at_packed);
            // The avatar: its layers into the overlay, then the same packing
            // again over its box, with the overlay on top.
            let avatar_key = PackKey {
                avatar_pass: true,
                ..plan.main
            };
            if let (Some((b, prepared)), Some(pack_avatar), Some(avatar_group)) = (
                &worn,
                self.pipelines.pack(&avatar_key),
                self.avatar.pack_group(),
            ) {
                self.avatar.record(&mut pass, prepared);
                let blocks = ((b.x1 - b.x0).div_ceil(bw), (b.y1 - b.y0) / bh);
                pass.set_bind_group(1, avatar_group, &[]);
                dispatch(&mut pass, pack_avatar, group, groups(blocks.0, blocks.1));
            }
        }
        let Some(sz) = self.sized.as_mut() else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        let out_len = packed.format().frame_len(w, h) as u64;
        let slot = sz.ring.record(&mut enc, &sz.out_buf, out_len);
        self.ctx.queue.submit([enc.finish()]);
        sz.ring.map(
            slot,
            out_len,
            Meta {
                size: plan.size,
                packed: packed.format(),
                out,
                seq: frame.seq,
                captured_at: frame.captured_at,
            },
        );
        Ok(())
    }

    /// The oldest frame in flight, once the GPU has finished it. With `wait`
    /// false it returns None at once when that frame is not ready yet.
    pub fn collect(&mut self, wait: bool) -> Option<Result<Frame, GpuError>> {
        self.sized.as_mut()?.ring.collect(&self.ctx.device, wait)
    }
}
