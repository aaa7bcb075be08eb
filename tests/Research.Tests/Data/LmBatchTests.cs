using Research.Data;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Data;

public sealed class LmBatchTests
{
    private static long[] Longs(Tensor t) => t.contiguous().data<long>().ToArray();
    private static bool[] Bools(Tensor t) => t.contiguous().data<bool>().ToArray();

    [Fact]
    public void Prompts_and_responses_are_padded_right_and_only_response_targets_count()
    {
        // Given prompts [1 2] and [3 4], responses [5] and [6 7], padding 0: rows 1 2 5 0 and 3 4 6 7
        using var batch = LmBatch.PromptsAndResponses([[1, 2], [3, 4]], [[5], [6, 7]], pad: 0, CPU);

        // Then inputs drop the last column, targets the first, and the mask keeps the targets that are response tokens
        Assert.Equal([1L, 2, 5, 3, 4, 6], Longs(batch.Inputs));
        Assert.Equal([2L, 5, 0, 4, 6, 7], Longs(batch.Targets));
        Assert.Equal([false, true, false, false, true, true], Bools(batch.LossMask));
        Assert.Equal(new long[] { 2, 3 }, batch.Inputs.shape);
    }

    [Fact]
    public void Rows_picks_the_same_rows_of_inputs_targets_and_mask()
    {
        using var batch = LmBatch.PromptsAndResponses([[1, 2], [3, 4]], [[5], [6, 7]], pad: 0, CPU);

        using var second = batch.Rows(tensor(new long[] { 1 }));

        Assert.Equal([3L, 4, 6], Longs(second.Inputs));
        Assert.Equal([4L, 6, 7], Longs(second.Targets));
        Assert.Equal([false, true, true], Bools(second.LossMask));
    }
}
