//! The shaders' uniform structs, mirrored field by field as plain `Pod`
//! structs: the engine fills one and writes its bytes, with no hand packing.
//! A test reads each WGSL struct through naga and checks that size, field
//! names and offsets agree, so a field added on one side only fails there.

use bytemuck::{Pod, Zeroable};

/// A uniform struct and the WGSL struct it mirrors. The names and offsets
/// are read by the layout test only.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) trait Uniform: Pod {
    /// The shader file declaring the struct.
    const SHADER: &'static str;
    /// The struct's name in that file.
    const STRUCT: &'static str;
    /// Each field's name and byte offset, in order.
    fn fields() -> Vec<(&'static str, usize)>;
}

/// A uniform buffer sized for `T`.
pub(super) fn buffer<T: Uniform>(device: &wgpu::Device, label: &str) -> wgpu::Buffer {
    super::wgpu_util::uniform(device, label, std::mem::size_of::<T>() as u64)
}

/// Writes `value` at the start of `buffer`.
pub(super) fn write<T: Uniform>(queue: &wgpu::Queue, buffer: &wgpu::Buffer, value: &T) {
    queue.write_buffer(buffer, 0, bytemuck::bytes_of(value));
}

macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident = $shader:literal :: $wgsl:literal {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Default, Pod, Zeroable)]
        pub(super) struct $name {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl Uniform for $name {
            const SHADER: &'static str = $shader;
            const STRUCT: &'static str = $wgsl;
            fn fields() -> Vec<(&'static str, usize)> {
                vec![$((stringify!($field), std::mem::offset_of!($name, $field))),*]
            }
        }
    };
}

mirror! {
    /// filter.wgsl: the frame, its number (time-based filters) and the
    /// filter's four parameters.
    FilterParams = "filter.wgsl"::"Params" {
        width: u32,
        height: u32,
        _pad: u32,
        frame: u32,
        p0: f32,
        p1: f32,
        p2: f32,
        p3: f32,
    }
}

mirror! {
    /// pack.wgsl: the frame size.
    PackParams = "pack.wgsl"::"Params" {
        width: u32,
        height: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

mirror! {
    /// pack.wgsl: how the person's edge is blended.
    Composite = "pack.wgsl"::"Composite" {
        feather: f32,
        _pad0: f32,
        _pad1: f32,
        _pad2: f32,
    }
}

mirror! {
    /// pack.wgsl, group 1: the avatar's box in pack blocks and the overlay it reads.
    AvatarPack = "pack.wgsl"::"Avatar" {
        ox: u32,
        oy: u32,
        rows: u32,
        cols: u32,
        overlay: [u32; 4],
    }
}

mirror! {
    /// avatar.wgsl: one slice of the avatar's art (or the overlay's clear).
    Slice = "avatar.wgsl"::"Slice" {
        m0: [f32; 4],
        m1: [f32; 4],
        m2: [f32; 4],
        opacity: [f32; 4],
        content: [f32; 4],
        rect: [u32; 4],
        overlay: [u32; 4],
    }
}

/// Tap pairs the blur's uniform holds (two per vec4).
pub(super) const MAX_TAP_PAIRS: usize = 20;

mirror! {
    /// background.wgsl: sizes, the blur's taps, the mask's smoothing and the
    /// guided filter's window.
    BackgroundParams = "background.wgsl"::"Params" {
        width: u32,
        height: u32,
        low_width: u32,
        low_height: u32,
        mask_width: u32,
        mask_height: u32,
        factor: u32,
        pairs: u32,
        feather: f32,
        keep_new: f32,
        center: f32,
        guide_radius: u32,
        taps: [[f32; 4]; MAX_TAP_PAIRS / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Size, field names and offsets of `T`'s WGSL struct as naga lays it out.
    fn wgsl_layout<T: Uniform>() -> (usize, Vec<(String, usize)>) {
        let src = super::super::shaders::source(T::SHADER).expect("shader");
        let module = naga::front::wgsl::parse_str(&src).expect("parses");
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(T::STRUCT))
            .unwrap_or_else(|| panic!("{} declares no struct {}", T::SHADER, T::STRUCT));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{} is not a struct", T::STRUCT);
        };
        let fields = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        (*span as usize, fields)
    }

    fn check<T: Uniform>() {
        let (span, fields) = wgsl_layout::<T>();
        let ours: Vec<(String, usize)> = T::fields()
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        assert_eq!(
            ours,
            fields,
            "{}::{}: fields or offsets differ",
            T::SHADER,
            T::STRUCT
        );
        assert_eq!(
            std::mem::size_of::<T>(),
            span,
            "{}::{}: size differs",
            T::SHADER,
            T::STRUCT
        );
    }

    #[test]
    fn every_uniform_matches_its_wgsl_struct() {
        check::<FilterParams>();
        check::<PackParams>();
        check::<Composite>();
        check::<AvatarPack>();
        check::<Slice>();
        check::<BackgroundParams>();
    }

    #[test]
    fn every_uniform_of_every_shader_is_mirrored() {
        // Each `var<uniform>` in a shader has a Rust twin above.
        let mirrored = [
            (FilterParams::SHADER, FilterParams::STRUCT),
            (PackParams::SHADER, PackParams::STRUCT),
            (Composite::SHADER, Composite::STRUCT),
            (AvatarPack::SHADER, AvatarPack::STRUCT),
            (Slice::SHADER, Slice::STRUCT),
            (BackgroundParams::SHADER, BackgroundParams::STRUCT),
        ];
        for file in super::super::shaders::ENTRY_POINTS {
            let src = super::super::shaders::source(file).expect("shader");
            let module = naga::front::wgsl::parse_str(&src).expect("parses");
            for (_, var) in module.global_variables.iter() {
                if var.space != naga::AddressSpace::Uniform {
                    continue;
                }
                let name = module.types[var.ty].name.clone().unwrap_or_default();
                assert!(
                    mirrored.contains(&(file, name.as_str())),
                    "{file}: uniform struct {name} has no Rust mirror in gpu::uniforms"
                );
            }
        }
    }

    #[test]
    fn a_changed_field_is_caught() {
        // The check itself: a struct whose second field sits elsewhere fails.
        mirror! {
            Wrong = "pack.wgsl"::"Params" {
                width: u32,
                _pad0: u32,
                height: u32,
                _pad1: u32,
            }
        }
        let caught = std::panic::catch_unwind(check::<Wrong>);
        assert!(caught.is_err());
    }
}
