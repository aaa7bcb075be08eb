using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Research.Notebooks.Export;

/// <summary>A <c>#r</c> of a C# cell: the path or <c>nuget:</c> text it names, and its 1-based line in the cell.</summary>
internal sealed record CellReference(string Target, int Line);

/// <summary>A name a cell declares at its top level (a variable, a method, a type) and its 1-based line in the cell.</summary>
internal sealed record CellName(string Name, int Line);

/// <summary>
/// One C# cell read as the kernel compiles it, as C# script (Roslyn, <see cref="SourceCodeKind.Script"/>), and taken
/// apart for a file-based program: its <c>#r</c> references and <c>using</c> directives go to the top of the file,
/// its statements stay in place (a trailing bare expression, which the kernel displays, becomes a <c>Display</c>
/// call), and its type declarations go after all statements, where a program must declare them.
/// </summary>
internal sealed record ScriptCell(
    IReadOnlyList<CellReference> References,
    IReadOnlyList<string> Usings,
    string Statements,
    IReadOnlyList<string> Types,
    IReadOnlyList<CellName> Declared)
{
    private static readonly CSharpParseOptions Script = new(LanguageVersion.Latest, kind: SourceCodeKind.Script);

    /// <summary>Reads <paramref name="code"/>; anything an app cannot hold is a <see cref="NotebookException"/> naming <paramref name="where"/> (notebook:cell).</summary>
    public static ScriptCell Read(string code, string where)
    {
        var text = SourceText.From(code);
        var references = new List<CellReference>();
        var referenceLines = new List<TextLine>();
        foreach (var directive in CSharpSyntaxTree.ParseText(text, Script).GetRoot().DescendantTrivia()
                     .Where(t => t.IsDirective).Select(t => (DirectiveTriviaSyntax)t.GetStructure()!))
        {
            var line = text.Lines.GetLineFromPosition(directive.SpanStart);
            var name = directive.ToString().Trim();
            var at = $"{where}:{line.LineNumber + 1}";
            // The kernel reads these lines before C# does; a program has no equivalent of any of them but #r.
            if (name.StartsWith("#!", StringComparison.Ordinal))
                throw new NotebookException($"{at}: the magic command {name} has no equivalent in a C# app");
            if (directive is LoadDirectiveTriviaSyntax || directive is BadDirectiveTriviaSyntax { Identifier.ValueText: "i" })
                throw new NotebookException($"{at}: {name} has no equivalent in a C# app (only #r of a kit project or of a nuget: package has)");
            if (directive is ReferenceDirectiveTriviaSyntax reference)
            {
                references.Add(new CellReference(reference.File.ValueText, line.LineNumber + 1));
                referenceLines.Add(line);
            }
        }

        // Without its #r lines (which C# script allows only before the first token, the kernel anywhere) the cell must
        // parse. They are emptied rather than removed, so that line numbers stay the cell's.
        text = text.WithChanges(referenceLines.Select(l => new TextChange(l.Span, "")));
        var root = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(text, Script).GetRoot();
        if (root.GetDiagnostics().FirstOrDefault(d => d.Severity == DiagnosticSeverity.Error) is { } error)
            throw new NotebookException($"{where}:{error.Location.GetLineSpan().StartLinePosition.Line + 1}: Roslyn cannot parse the cell as C# script: {error.Id}: {error.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}");

        var changes = new List<TextChange>();
        var usings = new List<string>();
        foreach (var directive in root.Usings)
        {
            // Removed up to the end of its line (a comment there goes with it); comments above it stay in the cell.
            usings.Add(directive.ToString());
            changes.Add(new TextChange(TextSpan.FromBounds(directive.SpanStart, text.Lines.GetLineFromPosition(directive.Span.End).EndIncludingLineBreak), ""));
        }

        var types = new List<string>();
        var declared = new List<CellName>();
        foreach (var member in root.Members)
        {
            var line = member.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
            switch (member)
            {
                case BaseTypeDeclarationSyntax or DelegateDeclarationSyntax:
                    var name = member is BaseTypeDeclarationSyntax t ? t.Identifier.ValueText : ((DelegateDeclarationSyntax)member).Identifier.ValueText;
                    declared.Add(new CellName(name, line));
                    types.Add(member.ToFullString().Trim('\n').TrimEnd());   // with its comments above
                    changes.Add(new TextChange(member.FullSpan, $"// {Keyword(member)} {name}: declared at the end of the file, after the statements, as a program must\n"));
                    break;
                case MethodDeclarationSyntax method:   // a script's method reads as a local function
                    declared.Add(new CellName(method.Identifier.ValueText, line));
                    break;
                case FieldDeclarationSyntax or GlobalStatementSyntax:   // a script's variables are fields; a program's, locals
                    declared.AddRange(VariablesOf(member).Select(v => new CellName(v, line)));
                    break;
                default:
                    throw new NotebookException($"{where}:{line}: a script-level {Keyword(member)} has no place in a program's top level (statements, local functions and types only)");
            }
        }

        if (root.Members.LastOrDefault() is GlobalStatementSyntax { Statement: ExpressionStatementSyntax { SemicolonToken.IsMissing: true, Expression: var shown } })
        {
            var (before, after) = DisplayCall(shown);
            changes.Add(new TextChange(new TextSpan(shown.SpanStart, 0), before));
            changes.Add(new TextChange(new TextSpan(shown.Span.End, 0), after));
        }
        return new ScriptCell(references, usings, text.WithChanges(changes).ToString(), types, declared);
    }

    // The kernel displays the value of a trailing expression without a semicolon. A call (or a ?. access) may have
    // none, and then the kernel shows nothing: as a lambda it binds to Display(Func<T>) when it has a value and to
    // Display(Action) when not. An await needs the async overloads. Anything else keeps the plainer Display(expr).
    private static (string Before, string After) DisplayCall(ExpressionSyntax shown)
    {
        var awaits = shown.DescendantNodesAndSelf(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax))
            .OfType<AwaitExpressionSyntax>().Any();
        if (awaits) return ("await Display(async () => ", ");");
        return shown is InvocationExpressionSyntax or ConditionalAccessExpressionSyntax ? ("Display(() => ", ");") : ("Display(", ");");
    }

    // Top-level variables of a field declaration or a statement: declarators, deconstructions and out or pattern
    // variables, but not those of lambdas or switch arms, which are scopes of their own.
    private static IEnumerable<string> VariablesOf(MemberDeclarationSyntax member) =>
        member is GlobalStatementSyntax { Statement: not (ExpressionStatementSyntax or LocalDeclarationStatementSyntax) } ? []
        : member.DescendantNodes(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or SwitchExpressionArmSyntax))
            .Select(n => n switch
            {
                VariableDeclaratorSyntax v => v.Identifier.ValueText,
                SingleVariableDesignationSyntax d => d.Identifier.ValueText,
                _ => null,
            })
            .OfType<string>();

    private static string Keyword(MemberDeclarationSyntax member) => member switch
    {
        TypeDeclarationSyntax t => t.Keyword.ValueText,
        EnumDeclarationSyntax => "enum",
        DelegateDeclarationSyntax => "delegate",
        PropertyDeclarationSyntax => "property",
        EventFieldDeclarationSyntax or EventDeclarationSyntax => "event",
        IndexerDeclarationSyntax => "indexer",
        _ => member.Kind().ToString(),
    };
}
