//! The built-in avatar packs are embedded with `include_dir!`, which cannot
//! tell cargo about the files it reads: rebuild when any of them changes.
fn main() {
    println!("cargo:rerun-if-changed=../avatars");
}
