/// Vectorized exp for the hot loops (softmax, log-sum-exp over the vocabulary, GELU).
/// Cephes' single-precision expf: range reduction by ln 2 then a degree-6 polynomial; relative error
/// ≈ 2 ulp over the clamped range, well inside lmscore's 2e-4 logprob tolerance.
/// `Sources/CKernels/vocab_fold_avx2.c` repeats `exp` operation for operation for the LM head's fold:
/// change both (LMHeadFoldTests.swift compares their bits).
typealias Floats = SIMD8<Float>

@inline(__always)
func exp(_ v: Floats) -> Floats {
    var x = v
    x.replace(with: Floats(repeating: -87.33654), where: x .< -87.33654)
    x.replace(with: Floats(repeating: 88.72283), where: x .> 88.72283)
    // n = round(x / ln 2) by the 1.5·2^23 trick: adding the magic constant leaves n in the low
    // mantissa bits, so its integer value is a bit-pattern difference (no float→int conversion).
    let magic = Floats(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = Floats(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * r * r + r + 1
    let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let exponent = (nBits &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: Floats.self)
}

@inline(__always)
func load(_ p: UnsafePointer<Float>) -> Floats {
    UnsafeRawPointer(p).loadUnaligned(as: Floats.self)
}

@inline(__always)
func store(_ v: Floats, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Floats.self)
}
