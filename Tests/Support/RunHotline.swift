import Foundation

/// The `hotline` executable the tests run: built beside the test bundle.
public var hotlineExecutable: String {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("hotline").path }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}

/// What a run of `hotline` printed and how it exited.
public struct HotlineRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Both streams.
    public var output: String { stdout + stderr }
}

/// Runs the built `hotline` with `arguments`, feeding `stdin`, with `environment` over the test's own, and returns when
/// it has exited. The run waits on a thread of its own: a test that waited on a cooperative thread would take one of
/// the pool's few threads (two on a two-core machine) for as long as the child runs and starve every other test.
public func runHotline(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> HotlineRun {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runHotlineWaiting(arguments, stdin: stdin, environment: environment) }) }.start()
    }
}

private func runHotlineWaiting(_ arguments: [String], stdin: String?, environment: [String: String]) throws -> HotlineRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: hotlineExecutable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Drain both pipes concurrently so a chatty child never blocks.
    let errorData = Locked(Data())
    let reader = Thread { errorData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while reader.isExecuting || !reader.isFinished { usleep(1_000) }
    return HotlineRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errorData.get(), as: UTF8.self))
}

/// A value behind a lock, for a thread that is not a task.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
