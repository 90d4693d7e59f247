using System.Xml.Linq;
using Liaoyuan.Training.Reporting;

namespace Liaoyuan.Training.Tests;

public sealed class LossChartTests
{
    [Fact]
    public void Chart_is_well_formed_svg_with_one_point_per_step_and_per_evaluation()
    {
        double[] losses = [5.5, 4.9, 4.2, 3.8, 3.1];
        EvaluationPoint[] heldOut = [new(2, 5.0), new(5, 3.9)];
        var svg = XDocument.Parse(LossChart.Svg(losses, heldOut, "run <1> & co"));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var lines = svg.Descendants(ns + "polyline").ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal(losses.Length, lines[0].Attribute("points")!.Value.Split(' ').Length);
        Assert.Equal(heldOut.Length, svg.Descendants(ns + "circle").Count());
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "run <1> & co");
    }
}
