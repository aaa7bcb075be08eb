using System.Buffers.Binary;
using System.Text;

namespace Research.Platform;

/// <summary>
/// Reads and edits the GNU symbol-versioning "needs" table (<c>.gnu.version_r</c>) of a 64-bit
/// little-endian ELF shared object, the only kind libtorch ships for Linux.
/// </summary>
/// <remarks>
/// A shared object lists, per library it links against, the symbol versions it needs
/// (e.g. <c>libstdc++.so.6: GLIBCXX_3.4.32</c>). The dynamic loader refuses to load it when a needed
/// version is missing, unless that entry carries <see cref="VerFlagWeak"/>; then it only checks the
/// symbols actually bound through relocations. Layouts follow the System V gABI and the LSB
/// "Symbol Versioning" chapter (Elf64_Shdr, Elf64_Verneed, Elf64_Vernaux, Elf64_Sym, Elf64_Rela).
/// </remarks>
public static class ElfVersionNeeds
{
    /// <summary>VER_FLG_WEAK from elf.h: a missing version is not an error.</summary>
    public const ushort VerFlagWeak = 0x2;

    private const uint ShtRela = 4, ShtRel = 9, ShtDynsym = 11;
    private const uint ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    private const int SectionHeaderSize = 64, VerneedSize = 16, SymbolSize = 24;

    /// <summary>One (library, version) pair the object needs.</summary>
    /// <param name="File">The library that must define the version, e.g. <c>libstdc++.so.6</c>.</param>
    /// <param name="Version">The version name, e.g. <c>GLIBCXX_3.4.32</c>.</param>
    /// <param name="Flags">vna_flags; <see cref="VerFlagWeak"/> marks a weak need.</param>
    /// <param name="Index">vna_other: the index symbols use (in .gnu.version) to bind to this version.</param>
    /// <param name="FlagsOffset">File offset of vna_flags, where a patch writes.</param>
    public sealed record Need(string File, string Version, ushort Flags, ushort Index, long FlagsOffset)
    {
        public bool IsWeak => (Flags & VerFlagWeak) != 0;
    }

    private sealed record Section(int Index, uint Type, long Offset, long Size, int Link, uint Info, long EntrySize);

    /// <summary>All version needs of <paramref name="elf"/>, in file order.</summary>
    public static IReadOnlyList<Need> Read(ReadOnlySpan<byte> elf)
    {
        var sections = Sections(elf);
        var needs = new List<Need>();
        foreach (var s in sections.Where(s => s.Type == ShtGnuVerneed))
        {
            long strtab = sections[s.Link].Offset;
            long entry = s.Offset;
            for (uint n = 0; n < s.Info; n++)
            {
                ushort count = U16(elf, entry + 2);
                string file = CString(elf, strtab + U32(elf, entry + 4));
                long aux = entry + U32(elf, entry + 8);
                for (int a = 0; a < count; a++)
                {
                    needs.Add(new Need(file, CString(elf, strtab + U32(elf, aux + 8)),
                        U16(elf, aux + 4), U16(elf, aux + 6), aux + 4));
                    aux += U32(elf, aux + 12);
                }
                uint next = U32(elf, entry + 12);
                if (next == 0) break;
                entry += next;
            }
        }
        return needs;
    }

    /// <summary>Names of the dynamic symbols bound to the version with index <paramref name="versionIndex"/>.</summary>
    public static IReadOnlyList<string> SymbolsOfVersion(ReadOnlySpan<byte> elf, ushort versionIndex)
    {
        var sections = Sections(elf);
        var dynsym = sections.Single(s => s.Type == ShtDynsym);
        var versym = sections.Single(s => s.Type == ShtGnuVersym);
        long strtab = sections[dynsym.Link].Offset;
        var names = new List<string>();
        for (long i = 0; i < dynsym.Size / SymbolSize; i++)
        {
            // The top bit of a .gnu.version entry is the "hidden" flag, not part of the index.
            if ((U16(elf, versym.Offset + 2 * i) & 0x7fff) == versionIndex)
                names.Add(CString(elf, strtab + U32(elf, dynsym.Offset + i * SymbolSize)));
        }
        return names;
    }

    /// <summary>How many dynamic relocations refer to a symbol bound to <paramref name="versionIndex"/>.</summary>
    /// <remarks>Zero means no code or data address depends on those symbols: the reference is only a
    /// link-time marker (GCC 13's &lt;iostream&gt; emits such a marker for <c>std::ios_base_library_init()</c>).</remarks>
    public static int RelocationsAgainstVersion(ReadOnlySpan<byte> elf, ushort versionIndex)
    {
        var sections = Sections(elf);
        var dynsym = sections.Single(s => s.Type == ShtDynsym);
        var versym = sections.Single(s => s.Type == ShtGnuVersym);
        int count = 0;
        foreach (var r in sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == dynsym.Index))
        {
            long size = r.EntrySize > 0 ? r.EntrySize : (r.Type == ShtRela ? 24 : 16);
            for (long off = r.Offset; off + size <= r.Offset + r.Size; off += size)
            {
                long symbol = (long)(BinaryPrimitives.ReadUInt64LittleEndian(elf[(int)(off + 8)..]) >> 32);
                if (symbol != 0 && (U16(elf, versym.Offset + 2 * symbol) & 0x7fff) == versionIndex) count++;
            }
        }
        return count;
    }

    /// <summary>
    /// A copy of <paramref name="elf"/> in which the need for <paramref name="version"/> is weak.
    /// Exactly one byte differs from the input. Throws if the object does not need that version.
    /// </summary>
    public static byte[] WithWeakNeed(ReadOnlySpan<byte> elf, string version)
    {
        var need = Read(elf).FirstOrDefault(n => n.Version == version)
            ?? throw new ArgumentException($"The ELF object needs no symbol version '{version}'.", nameof(version));
        var copy = elf.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan((int)need.FlagsOffset), (ushort)(need.Flags | VerFlagWeak));
        return copy;
    }

    private static List<Section> Sections(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file (bad magic).");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        if (shentsize != SectionHeaderSize || shoff + (long)shnum * shentsize > elf.Length)
            throw new InvalidDataException("Truncated or malformed ELF section header table.");
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + (long)i * shentsize;
            list.Add(new Section(i, U32(elf, h + 4),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(elf[(int)(h + 24)..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(elf[(int)(h + 32)..]),
                (int)U32(elf, h + 40), U32(elf, h + 44),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(elf[(int)(h + 56)..])));
        }
        return list;
    }

    private static ushort U16(ReadOnlySpan<byte> b, long at) => BinaryPrimitives.ReadUInt16LittleEndian(b[(int)at..]);
    private static uint U32(ReadOnlySpan<byte> b, long at) => BinaryPrimitives.ReadUInt32LittleEndian(b[(int)at..]);

    private static string CString(ReadOnlySpan<byte> b, long at)
    {
        var tail = b[(int)at..];
        int end = tail.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? tail : tail[..end]);
    }
}
