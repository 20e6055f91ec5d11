import ArgumentParser

/// The `hotline` command.
@main
struct Hotline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotline",
        abstract: "Speech transcription and voice bots for customer-service phone lines.",
        version: "0.1.0",
        subcommands: [TranscribeCommand.self, SayCommand.self, EvalCommand.self, SimulateCommand.self, IntentCommand.self, ChatCommand.self, FlowCommand.self, ServeCommand.self, QACommand.self, BenchCommand.self]
    )
}
