//! The engine's compute pipelines, keyed by what they are specialised for.
//! Each variant is a typed key whose `constants` are the only place the
//! WGSL override values are spelled: warm-up and the frame path build from
//! the same keys. Pipelines are built on first use and kept.

use std::collections::HashMap;

use super::wgpu_util::{layout_entry, sampled, storage, SAMPLER, STORAGE_READ, UNIFORM};
use super::{shaders, GpuError};
use crate::frame::{PixelFormat, Size};

/// decode.wgsl's `in_format` code of camera bytes in `f` (never 0).
fn in_format(f: PixelFormat) -> u32 {
    match f {
        PixelFormat::Rgba => 1,
        PixelFormat::Yuyv => 2,
        PixelFormat::Nv12 => 3,
        PixelFormat::I420 => 4,
    }
}

/// Where the passes after the filter read the camera picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// The filter's output texture.
    Filtered,
    /// The frame's own bytes, decoded where they lie (decode.wgsl).
    Camera(PixelFormat),
}

impl Source {
    fn code(self) -> u32 {
        match self {
            Source::Filtered => 0,
            Source::Camera(f) => in_format(f),
        }
    }
}

/// A filter pipeline: filter.wgsl specialised for one filter and one input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FilterKey {
    /// `FilterInfo::id`, filter.wgsl's `kind`.
    pub filter: u32,
    pub input: PixelFormat,
}

impl FilterKey {
    pub const ENTRY: &'static str = "main";

    pub fn constants(&self) -> [(&'static str, f64); 2] {
        [
            ("kind", self.filter as f64),
            ("in_format", in_format(self.input) as f64),
        ]
    }
}

/// The formats pack.wgsl writes itself (others are packed as RGBA and
/// converted on the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Packed {
    Rgba,
    Yuyv,
    Nv12,
}

impl Packed {
    pub const ALL: [Packed; 3] = [Packed::Rgba, Packed::Yuyv, Packed::Nv12];

    /// What pack.wgsl writes for output `f` at `size`. I420 is packed as
    /// NV12 (the CPU then only splits the chroma pairs): 1.5 bytes a pixel
    /// to read back instead of RGBA's 4, and no colour conversion on the CPU.
    pub fn for_output(f: PixelFormat, size: Size) -> Packed {
        let nv12 = size.width.is_multiple_of(4) && size.height.is_multiple_of(2);
        match f {
            PixelFormat::Yuyv => Packed::Yuyv,
            PixelFormat::Nv12 | PixelFormat::I420 if nv12 => Packed::Nv12,
            _ => Packed::Rgba,
        }
    }

    pub fn format(self) -> PixelFormat {
        match self {
            Packed::Rgba => PixelFormat::Rgba,
            Packed::Yuyv => PixelFormat::Yuyv,
            Packed::Nv12 => PixelFormat::Nv12,
        }
    }

    /// The block of pixels (width, height) one invocation of the pack
    /// packs: a pair for RGBA and YUYV (one camera word and one sample of
    /// the blurred room for both), 4x2 for NV12 (two Y words and the UV
    /// word of the same pixels, each pixel composited once).
    pub fn block(self) -> (u32, u32) {
        match self {
            Packed::Rgba | Packed::Yuyv => (2, 1),
            Packed::Nv12 => (4, 2),
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Packed::Rgba => "pack_rgba",
            Packed::Yuyv => "pack_yuyv",
            Packed::Nv12 => "pack_nv12",
        }
    }
}

/// What is behind the person, as pack.wgsl's `backdrop` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum BackdropKind {
    None,
    Blur,
    Picture,
}

impl BackdropKind {
    pub const ALL: [BackdropKind; 3] = [
        BackdropKind::None,
        BackdropKind::Blur,
        BackdropKind::Picture,
    ];

    fn code(self) -> u32 {
        match self {
            BackdropKind::None => 0,
            BackdropKind::Blur => 1,
            BackdropKind::Picture => 2,
        }
    }
}

/// A pack pipeline: pack.wgsl for one output, backdrop, avatar use and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct PackKey {
    pub packed: Packed,
    pub backdrop: BackdropKind,
    /// A full avatar replaces the person.
    pub full: bool,
    /// The avatar pass, over the avatar's box only.
    pub avatar_pass: bool,
    pub source: Source,
}

impl PackKey {
    pub fn entry(&self) -> &'static str {
        self.packed.entry()
    }

    pub fn constants(&self) -> [(&'static str, f64); 4] {
        [
            ("backdrop", self.backdrop.code() as f64),
            ("full", self.full as u32 as f64),
            ("avatar", self.avatar_pass as u32 as f64),
            ("in_format", self.source.code() as f64),
        ]
    }

    /// Every variant a frame reading `source` may need.
    pub fn every(source: Source) -> impl Iterator<Item = PackKey> {
        Packed::ALL.into_iter().flat_map(move |packed| {
            [false, true].into_iter().flat_map(move |avatar_pass| {
                let key = move |backdrop, full| PackKey {
                    packed,
                    backdrop,
                    full,
                    avatar_pass,
                    source,
                };
                // A full avatar always stands in front of a picture.
                BackdropKind::ALL
                    .into_iter()
                    .map(move |b| key(b, false))
                    .chain(std::iter::once(key(BackdropKind::Picture, true)))
            })
        })
    }
}

/// The background passes that read the picture, by source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SourcePass {
    Down,
    GuideStats,
}

impl SourcePass {
    fn entry(self) -> &'static str {
        match self {
            SourcePass::Down => "bg_down",
            SourcePass::GuideStats => "guide_stats",
        }
    }
}

/// One shader file, includes resolved, compiled once however many entry points use it.
fn module(device: &wgpu::Device, file: &str) -> Result<wgpu::ShaderModule, GpuError> {
    let src = shaders::source(file).map_err(|e| GpuError::Failed(e.to_string()))?;
    Ok(device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(file),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    }))
}

fn pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

/// A shader module with its bind group layout and pipeline layout.
#[derive(Debug)]
struct Program {
    module: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
}

impl Program {
    fn new(
        d: &wgpu::Device,
        file: &str,
        entries: &[wgpu::BindGroupLayoutEntry],
        more_groups: &[&wgpu::BindGroupLayout],
    ) -> Result<Program, GpuError> {
        let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(file),
            entries,
        });
        let groups: Vec<Option<&wgpu::BindGroupLayout>> = std::iter::once(Some(&layout))
            .chain(more_groups.iter().map(|g| Some(*g)))
            .collect();
        let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(file),
            bind_group_layouts: &groups,
            immediate_size: 0,
        });
        Ok(Program {
            module: module(d, file)?,
            layout,
            pipeline_layout,
        })
    }

    fn build(
        &self,
        d: &wgpu::Device,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        pipeline(d, &self.pipeline_layout, &self.module, entry, constants)
    }
}

/// The background passes that do not read the picture: one pipeline each.
#[derive(Debug)]
pub(super) struct BackgroundFixed {
    pub smooth: wgpu::ComputePipeline,
    pub blur_h: wgpu::ComputePipeline,
    pub blur_v: wgpu::ComputePipeline,
    pub guide_coeffs: wgpu::ComputePipeline,
    pub guide_mean: wgpu::ComputePipeline,
}

/// Every pipeline of the engine, built on first use.
#[derive(Debug)]
pub(super) struct Pipelines {
    device: wgpu::Device,
    filter: Program,
    pack: Program,
    background: Program,
    filters: HashMap<FilterKey, wgpu::ComputePipeline>,
    packs: HashMap<PackKey, wgpu::ComputePipeline>,
    by_source: HashMap<(SourcePass, Source), wgpu::ComputePipeline>,
    pub fixed: BackgroundFixed,
}

impl Pipelines {
    /// The programs; `avatar_pack` is group 1 of the pack pipelines.
    pub fn new(d: &wgpu::Device, avatar_pack: &wgpu::BindGroupLayout) -> Result<Self, GpuError> {
        use wgpu::TextureViewDimension as Dim;
        let filter = Program::new(
            d,
            "filter.wgsl",
            &[
                layout_entry(0, UNIFORM),
                layout_entry(2, storage(wgpu::TextureFormat::Rgba8Unorm)),
                layout_entry(3, sampled(Dim::D3)),
                layout_entry(4, SAMPLER),
                layout_entry(5, STORAGE_READ),
            ],
            &[],
        )?;
        let pack = Program::new(
            d,
            "pack.wgsl",
            &[
                layout_entry(0, UNIFORM),
                layout_entry(1, sampled(Dim::D2)),
                layout_entry(
                    2,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                layout_entry(3, UNIFORM),
                layout_entry(4, sampled(Dim::D2)),
                layout_entry(5, sampled(Dim::D2)),
                layout_entry(6, sampled(Dim::D2)),
                layout_entry(7, SAMPLER),
                layout_entry(8, STORAGE_READ),
            ],
            &[avatar_pack],
        )?;
        let background = Program::new(
            d,
            "background.wgsl",
            &[
                layout_entry(0, UNIFORM),
                layout_entry(1, sampled(Dim::D2)),
                layout_entry(2, sampled(Dim::D2)),
                layout_entry(3, sampled(Dim::D2)),
                layout_entry(4, sampled(Dim::D2)),
                layout_entry(6, SAMPLER),
                layout_entry(7, storage(wgpu::TextureFormat::Rgba16Float)),
                layout_entry(8, STORAGE_READ),
            ],
            &[],
        )?;
        let fixed = BackgroundFixed {
            smooth: background.build(d, "mask_smooth", &[]),
            blur_h: background.build(d, "blur_h", &[]),
            blur_v: background.build(d, "blur_v", &[]),
            guide_coeffs: background.build(d, "guide_coeffs", &[]),
            guide_mean: background.build(d, "guide_mean", &[]),
        };
        Ok(Pipelines {
            device: d.clone(),
            filter,
            pack,
            background,
            filters: HashMap::new(),
            packs: HashMap::new(),
            by_source: HashMap::new(),
            fixed,
        })
    }

    pub fn filter_layout(&self) -> &wgpu::BindGroupLayout {
        &self.filter.layout
    }

    pub fn pack_layout(&self) -> &wgpu::BindGroupLayout {
        &self.pack.layout
    }

    pub fn background_layout(&self) -> &wgpu::BindGroupLayout {
        &self.background.layout
    }

    pub fn ensure_filter(&mut self, key: FilterKey) {
        if !self.filters.contains_key(&key) {
            let p = self
                .filter
                .build(&self.device, FilterKey::ENTRY, &key.constants());
            self.filters.insert(key, p);
        }
    }

    pub fn ensure_pack(&mut self, key: PackKey) {
        if !self.packs.contains_key(&key) {
            let p = self.pack.build(&self.device, key.entry(), &key.constants());
            self.packs.insert(key, p);
        }
    }

    /// The background passes that read the picture from `source`.
    pub fn ensure_source(&mut self, source: Source) {
        for pass in [SourcePass::Down, SourcePass::GuideStats] {
            if !self.by_source.contains_key(&(pass, source)) {
                let constants = [("in_format", source.code() as f64)];
                let p = self
                    .background
                    .build(&self.device, pass.entry(), &constants);
                self.by_source.insert((pass, source), p);
            }
        }
    }

    pub fn filter(&self, key: &FilterKey) -> Option<&wgpu::ComputePipeline> {
        self.filters.get(key)
    }

    pub fn pack(&self, key: &PackKey) -> Option<&wgpu::ComputePipeline> {
        self.packs.get(key)
    }

    pub fn down(&self, source: Source) -> Option<&wgpu::ComputePipeline> {
        self.by_source.get(&(SourcePass::Down, source))
    }

    pub fn guide_stats(&self, source: Source) -> Option<&wgpu::ComputePipeline> {
        self.by_source.get(&(SourcePass::GuideStats, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(file: &str) -> naga::Module {
        let src = shaders::source(file).expect("shader");
        naga::front::wgsl::parse_str(&src).expect("parses")
    }

    fn check(module: &naga::Module, file: &str, entry: &str, constants: &[(&str, f64)]) {
        assert!(
            module.entry_points.iter().any(|e| e.name == entry),
            "{file} has no entry point {entry}"
        );
        for (name, _) in constants {
            assert!(
                module
                    .overrides
                    .iter()
                    .any(|(_, o)| o.name.as_deref() == Some(name)),
                "{file} has no override {name}"
            );
        }
    }

    #[test]
    fn every_key_names_real_entry_points_and_overrides() {
        let filter = parsed("filter.wgsl");
        for input in [
            PixelFormat::Rgba,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::I420,
        ] {
            let key = FilterKey { filter: 0, input };
            check(&filter, "filter.wgsl", FilterKey::ENTRY, &key.constants());
        }
        let pack = parsed("pack.wgsl");
        let sources = [Source::Filtered, Source::Camera(PixelFormat::Yuyv)];
        for key in sources.into_iter().flat_map(PackKey::every) {
            check(&pack, "pack.wgsl", key.entry(), &key.constants());
        }
        let background = parsed("background.wgsl");
        for pass in [SourcePass::Down, SourcePass::GuideStats] {
            check(
                &background,
                "background.wgsl",
                pass.entry(),
                &[("in_format", 0.0)],
            );
        }
    }

    #[test]
    fn warm_up_keys_are_distinct_and_cover_the_frame_path() {
        let keys: Vec<PackKey> = PackKey::every(Source::Filtered).collect();
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        // 3 outputs x 2 passes x (3 backdrops + the full avatar).
        assert_eq!(keys.len(), 24);
        assert!(keys.contains(&PackKey {
            packed: Packed::Nv12,
            backdrop: BackdropKind::Picture,
            full: true,
            avatar_pass: true,
            source: Source::Filtered,
        }));
    }

    #[test]
    fn input_codes_are_distinct_and_never_the_filtered_code() {
        let codes: Vec<u32> = [
            PixelFormat::Rgba,
            PixelFormat::Yuyv,
            PixelFormat::Nv12,
            PixelFormat::I420,
        ]
        .map(|f| Source::Camera(f).code())
        .to_vec();
        assert!(!codes.contains(&Source::Filtered.code()));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
    }
}
