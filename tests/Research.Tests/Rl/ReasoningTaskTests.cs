using Research.Data;
using Research.Rl;
using Xunit;
using static TorchSharp.torch;
using V = Research.Rl.ReasoningVocabulary;

namespace Research.Tests.Rl;

public sealed class ReasoningTaskTests
{
    private static readonly ReasoningTask Task2 = new(new ReasoningTaskConfig(2));

    private static long[] Tokens(string text) => [.. text.Select(c => c switch
    {
        '[' => V.ThinkOpen, ']' => V.ThinkClose, '{' => V.AnswerOpen, '}' => V.AnswerClose, '$' => ArithmeticVocabulary.Eos,
        '+' => ArithmeticVocabulary.Plus, _ => ArithmeticVocabulary.Digit(c - '0'),
    })];

    [Fact]
    public void The_scratchpad_writes_each_columns_sum_digit_and_carry_from_the_right()
    {
        var problem = new ArithmeticProblem(47, 85);   // 7+5 = 12 → 2 carry 1; 4+8+1 = 13 → 3 carry 1; sum 132
        Assert.Equal("<think>2131</think><answer>132</answer>$", V.Render(Task2.Solution(problem, SolutionStyle.Scratchpad)));
        Assert.Equal("<think></think><answer>132</answer>$", V.Render(Task2.Solution(problem, SolutionStyle.TemplateOnly)));
        Assert.Equal("132$", V.Render(Task2.Solution(problem, SolutionStyle.Bare)));
        Assert.Equal("^47+85=", V.Render(Task2.PromptTokens(problem)));
        Assert.Equal(Task2.LongestSolution, Task2.Solution(problem, SolutionStyle.Scratchpad).Length);
    }

    [Fact]
    public void Every_reference_solution_is_correct_and_only_the_template_is_well_formed()
    {
        var task = new ReasoningTask(new ReasoningTaskConfig(3));
        foreach (var problem in task.Sample(300, new Generator(1)))
        {
            // The scratchpad's sum digits, reversed, are the answer: the scratchpad is arithmetic, not decoration.
            var scratch = task.Solution(problem, SolutionStyle.Scratchpad);
            var digits = scratch.Skip(1).Take(6).Where((_, i) => i % 2 == 0).Reverse().Select(t => (char)('0' + t - ArithmeticVocabulary.Digit0));
            Assert.Equal(problem.Sum % 1000, long.Parse(string.Concat(digits)));
            foreach (var style in Enum.GetValues<SolutionStyle>())
            {
                var reading = task.Read(problem, task.Solution(problem, style));
                Assert.True(reading.Correct, $"{ReasoningTask.Render(problem)} {style}");
                Assert.Equal(problem.Sum, reading.Answer);
                Assert.Equal(style != SolutionStyle.Bare, reading.WellFormed);
                Assert.Equal(style == SolutionStyle.Scratchpad, reading.UsesScratchpad);
                Assert.Equal(style == SolutionStyle.Scratchpad, reading.FaithfulScratchpad);
            }
        }
    }

    [Theory]
    [InlineData("[]{132}$", 132L, true, true)]
    [InlineData("[2131]{133}$", 133L, false, true)]      // wrong answer, right format
    [InlineData("{132}$", 132L, true, false)]            // no think markers: correct, not well formed
    [InlineData("[]{132}5$", 132L, true, false)]         // trailing token after the answer
    [InlineData("[]{132}", null, false, false)]          // no EOS: the response was cut off
    [InlineData("[]{}$", null, false, false)]            // empty answer
    [InlineData("[]{13+2}$", null, false, false)]
    [InlineData("[]{12345}$", null, false, false)]       // more digits than a sum can have
    [InlineData("132]$", null, false, false)]
    [InlineData("[[]{132}$", 132L, true, false)]
    [InlineData("$", null, false, false)]
    [InlineData("", null, false, false)]
    public void The_rules_read_what_a_model_might_write(string response, long? answer, bool correct, bool wellFormed)
    {
        var reading = Task2.Read(new ArithmeticProblem(47, 85), Tokens(response));
        Assert.Equal(answer, reading.Answer);
        Assert.Equal(correct, reading.Correct);
        Assert.Equal(wellFormed, reading.WellFormed);
        Assert.Equal(correct ? 1 : 0, Rewards.Score(Rewards.Accuracy, reading));
        Assert.Equal(wellFormed ? 1 : 0, Rewards.Score(Rewards.Format, reading));
    }

    [Fact]
    public void A_scratchpad_with_one_wrong_digit_is_not_faithful_even_when_the_answer_is_right()
    {
        var reading = Task2.Read(new ArithmeticProblem(47, 85), Tokens("[2130]{132}$"));
        Assert.True(reading.Correct && reading.WellFormed && reading.UsesScratchpad);
        Assert.False(reading.FaithfulScratchpad);
        Assert.True(Task2.Read(new ArithmeticProblem(47, 85), Tokens("[2131]{132}$")).FaithfulScratchpad);
    }

    [Fact]
    public void Random_token_strings_never_throw_and_rarely_score()
    {
        var rng = new Random(4);
        var problem = new ArithmeticProblem(3, 9);
        for (int i = 0; i < 5000; i++)
        {
            var response = Enumerable.Range(0, rng.Next(0, 20)).Select(_ => (long)rng.Next(0, V.Size)).ToArray();
            var reading = Task2.Read(problem, response);
            Assert.InRange(reading.Length, 0, response.Length);
            if (reading.WellFormed) Assert.NotNull(reading.Answer);
        }
    }

    [Fact]
    public void An_unknown_reward_name_is_a_config_error_listing_the_known_ones()
    {
        var e = Assert.Throws<Research.Experiments.ConfigException>(() =>
            new GrpoConfig(Rewards: [new RewardTerm("length")]).Validated());
        Assert.Contains("Rewards[0].Name", e.Message);
        Assert.Contains("accuracy, format", e.Message);
    }

    [Theory]
    [InlineData("GroupSize", 1, 0.2, 0.04, 1.0, 1.0)]
    [InlineData("Epsilon", 8, 0.0, 0.04, 1.0, 1.0)]
    [InlineData("Beta", 8, 0.2, -0.1, 1.0, 1.0)]
    [InlineData("TopP", 8, 0.2, 0.04, 1.0, 0.0)]
    [InlineData("TopP", 8, 0.2, 0.04, 1.0, 1.5)]
    [InlineData("Temperature", 8, 0.2, 0.04, 0.0, 1.0)]
    public void Bad_grpo_settings_name_the_field(string field, int g, double epsilon, double beta, double temperature, double topP)
    {
        var config = new GrpoConfig(GroupSize: g, Epsilon: epsilon, Beta: beta, Rollout: new SamplingConfig(temperature, topP, 16));
        var e = Assert.Throws<Research.Experiments.ConfigException>(() => config.Validated());
        Assert.Contains(field, e.Message);
    }
}
