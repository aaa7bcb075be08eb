using Research.Platform;
using TorchSharp;
using Xunit;

namespace Research.Tests.Platform;

public sealed class ElfVersionNeedsTests
{
    private static byte[] TorchSharpNative()
    {
        var dir = Path.GetDirectoryName(typeof(torch).Assembly.Location)!;
        var path = Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.SkipUnless(File.Exists(path), "linux-x64 TorchSharp native library not present (not Linux x64)");
        return File.ReadAllBytes(path);
    }

    [Fact]
    public void Reads_the_libstdcxx_needs_of_LibTorchSharp()
    {
        var needs = ElfVersionNeeds.Read(TorchSharpNative());

        Assert.Contains(needs, n => n.File == "libc.so.6" && n.Version == "GLIBC_2.2.5");
        Assert.Contains(needs, n => n.File == "libstdc++.so.6" && n.Version == TorchRuntime.MissingVersion && !n.IsWeak);
        // Version indexes are unique per object and 0/1 are reserved (local/global).
        Assert.Equal(needs.Count, needs.Select(n => n.Index).Distinct().Count());
        Assert.All(needs, n => Assert.True(n.Index > 1));
    }

    [Fact]
    public void Only_a_marker_symbol_needs_GLIBCXX_3_4_32_and_no_relocation_uses_it()
    {
        var elf = TorchSharpNative();
        var need = ElfVersionNeeds.Read(elf).Single(n => n.Version == TorchRuntime.MissingVersion);

        Assert.Equal(["_ZSt21ios_base_library_initv"], ElfVersionNeeds.SymbolsOfVersion(elf, need.Index));
        Assert.Equal(0, ElfVersionNeeds.RelocationsAgainstVersion(elf, need.Index));
    }

    [Fact]
    public void Relocation_scan_finds_relocations_of_a_version_that_is_used()
    {
        // GLIBC_2.2.5 covers malloc, memcpy and friends: some relocation must use it, or the scan is broken.
        var elf = TorchSharpNative();
        var glibc = ElfVersionNeeds.Read(elf).Single(n => n.File == "libc.so.6" && n.Version == "GLIBC_2.2.5");

        Assert.True(ElfVersionNeeds.RelocationsAgainstVersion(elf, glibc.Index) > 0);
    }

    [Fact]
    public void Weakening_a_need_changes_exactly_one_byte_and_only_that_flag()
    {
        var elf = TorchSharpNative();

        var patched = ElfVersionNeeds.WithWeakNeed(elf, TorchRuntime.MissingVersion);

        var differing = Enumerable.Range(0, elf.Length).Where(i => elf[i] != patched[i]).ToList();
        Assert.Single(differing);
        var before = ElfVersionNeeds.Read(elf);
        var after = ElfVersionNeeds.Read(patched);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
        {
            Assert.Equal(before[i].Version, after[i].Version);
            Assert.Equal(before[i].Version == TorchRuntime.MissingVersion, after[i].IsWeak);
        }
    }

    [Fact]
    public void Weakening_a_version_the_object_does_not_need_is_an_error_naming_it()
    {
        var e = Assert.Throws<ArgumentException>(() => ElfVersionNeeds.WithWeakNeed(TorchSharpNative(), "GLIBCXX_9.9.9"));
        Assert.Contains("GLIBCXX_9.9.9", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_ELF_is_rejected()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read("#!/bin/sh\necho not an ELF file at all, padded to 64 bytes.....\n"u8));
    }
}
