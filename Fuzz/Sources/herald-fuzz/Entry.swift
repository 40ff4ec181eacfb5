import Foundation

/// The target this process fuzzes, from `HERALD_FUZZ_TARGET` (see the Makefile's `fuzz`).
let target: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["HERALD_FUZZ_TARGET"] ?? ""
    guard let target = FuzzProperties.targets[name] else {
        fatalError("set HERALD_FUZZ_TARGET to one of \(FuzzProperties.targets.keys.sorted())")
    }
    return target
}()

/// libFuzzer's entry point: one input per call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    target(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
