using System.Text;

namespace Research.Notebooks.Execution;

/// <summary>
/// Routes Console.Out and Console.Error into a cell's <c>stream</c> outputs while the cell runs, and puts the
/// previous writers back on dispose. Console is process-wide, which is why the runner runs one notebook at a time.
/// </summary>
internal sealed class ConsoleCapture : IDisposable
{
    private readonly TextWriter _out = Console.Out;
    private readonly TextWriter _error = Console.Error;
    private readonly TextReader _in = Console.In;

    public ConsoleCapture(CellOutputs outputs)
    {
        Console.SetOut(new StreamWriterAdapter(outputs, "stdout"));
        Console.SetError(new StreamWriterAdapter(outputs, "stderr"));
        // Nobody can answer a prompt in a headless run; reading gets end-of-input instead of hanging.
        Console.SetIn(TextReader.Null);
    }

    public void Dispose()
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Console.SetOut(_out);
        Console.SetError(_error);
        Console.SetIn(_in);
    }

    private sealed class StreamWriterAdapter(CellOutputs outputs, string stream) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => outputs.Write(stream, value.ToString());
        public override void Write(string? value) => outputs.Write(stream, value ?? "");
        public override void Write(char[] buffer, int index, int count) => outputs.Write(stream, new string(buffer, index, count));
        public override void WriteLine(string? value) => outputs.Write(stream, (value ?? "") + "\n");
        public override void WriteLine() => outputs.Write(stream, "\n");
    }
}
