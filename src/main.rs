/// mimalloc instead of glibc's malloc: a proxied send allocates and frees a
/// few dozen small blocks and two 8 KiB read buffers, which glibc serves
/// from its slower paths (measured with callgrind: see `benches/proxy.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tollgate::cli::run()
}
