using System.Globalization;
using System.Runtime.InteropServices;
using Research.Cli;

// The library writes its files culture-invariant itself; this keeps the terminal's summaries the same on every machine.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

// Ctrl-C (SIGINT) and SIGTERM cancel the token the training loops check, so a run stops at its next step and writes
// nothing half-done (CliApp then exits 130). A second signal is left to the runtime: it ends a run that does not stop.
using var interrupt = new CancellationTokenSource();
void Interrupt(PosixSignalContext context)
{
    if (interrupt.IsCancellationRequested) return;
    context.Cancel = true;
    interrupt.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);

return await CliApp.RunAsync(args, Console.Out, Console.Error, interrupt.Token);
