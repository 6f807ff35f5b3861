import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import KtraceCore

/// Minimal DOM built with XMLParser, which also proves the SVG is well-formed XML.
private final class Element {
    let name: String
    let attrs: [String: String]
    var children: [Element] = []
    var text = ""
    init(name: String, attrs: [String: String]) { self.name = name; self.attrs = attrs }

    func first(_ name: String) -> Element? { children.first { $0.name == name } }
    func descendant(id: String) -> Element? {
        if attrs["id"] == id { return self }
        for c in children { if let e = c.descendant(id: id) { return e } }
        return nil
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [Element] = []
    var root: Element?
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        let e = Element(name: elementName, attrs: attributeDict)
        if let top = stack.last { top.children.append(e) } else { root = e }
        stack.append(e)
    }
    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        stack.removeLast()
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        stack.last?.text += String(decoding: CDATABlock, as: UTF8.self)
    }
}

private struct Frame {
    var x: UInt64, w: UInt64, depth: Int
    var title: String, label: String, fill: String
    var rectX: Double, rectY: Double, rectW: Double
    var name: String { String(title[..<title.range(of: " (", options: .backwards)!.lowerBound]) }
}

private func parseSVG(_ svg: String) throws -> Element {
    let parser = XMLParser(data: Data(svg.utf8))
    let builder = TreeBuilder()
    parser.delegate = builder
    let ok = parser.parse()
    #expect(ok, "not well-formed: \(String(describing: parser.parserError))")
    return try #require(builder.root)
}

private func frames(_ svg: String) throws -> [Frame] {
    let root = try parseSVG(svg)
    let group = try #require(root.descendant(id: "frames"))
    return try group.children.map { g in
        let rect = try #require(g.first("rect")), text = try #require(g.first("text"))
        return Frame(x: UInt64(g.attrs["data-x"]!)!, w: UInt64(g.attrs["data-w"]!)!, depth: Int(g.attrs["data-d"]!)!,
                     title: try #require(g.first("title")).text, label: text.text, fill: rect.attrs["fill"]!,
                     rectX: Double(rect.attrs["x"]!)!, rectY: Double(rect.attrs["y"]!)!, rectW: Double(rect.attrs["width"]!)!)
    }
}

private func profile(_ text: String) throws -> FoldedProfile { try FoldedProfile.parse(text) }

private func rgb(_ fill: String) -> (Int, Int, Int) {
    let n = fill.dropFirst(4).dropLast().split(separator: ",").map { Int($0)! }
    return (n[0], n[1], n[2])
}

@Suite struct FlameGraphSVGTests {
    static let graphWidth = 1180.0  // default width minus 10 px padding each side

    @Test func fixtureIsWellFormedAndSelfContained() throws {
        let p = try FoldedProfile.parse(FoldedTests.fixture("folded-ksoftirqd"))
        var o = FlameGraphOptions()
        o.title = "ksoftirqd <CPU 0> & friends"
        o.subtitle = "pid 9 (ksoftirqd/0) · 30 s · 99 Hz · 0 lost samples"
        let svg = FlameGraphSVG.render(p, options: o)
        let root = try parseSVG(svg)
        #expect(root.name == "svg")
        #expect(root.descendant(id: "title")?.text == "ksoftirqd <CPU 0> & friends")
        #expect(root.descendant(id: "subtitle")?.text == "pid 9 (ksoftirqd/0) · 30 s · 99 Hz · 0 lost samples")
        #expect(root.descendant(id: "unzoom")?.text == "Reset Zoom")
        #expect(root.descendant(id: "search")?.text == "Search")
        #expect(root.descendant(id: "details") != nil && root.descendant(id: "matched") != nil)
        #expect(root.first("script")?.text.contains("function zoom") == true)
        #expect(root.first("style") != nil)
        // No external references: the only URL is the SVG namespace.
        #expect(svg.components(separatedBy: "http").count == 2)
        #expect(!svg.contains("href"))
        #expect(FlameGraphSVG.render(p, options: o) == svg, "deterministic")

        let fs = try frames(svg)
        let all = try #require(fs.first)
        #expect(all.title == "all (2183 samples, 100.00%)")
        #expect(fs.contains { $0.title == "ip_rcv (1514 samples, 69.35%)" && $0.depth == 12 })
    }

    @Test func childrenFitInsideParents() throws {
        let fs = try frames(FlameGraphSVG.render(try FoldedProfile.parse(FoldedTests.fixture("folded-ksoftirqd"))))
        for parent in fs {
            let kids = fs.filter { $0.depth == parent.depth + 1 && $0.x >= parent.x && $0.x + $0.w <= parent.x + parent.w }
            #expect(kids.reduce(0) { $0 + $1.w } <= parent.w)
            #expect(kids.reduce(0.0) { $0 + $1.rectW } <= parent.rectW + 0.01 * Double(kids.count))
            for k in kids { #expect(k.rectX >= parent.rectX - 0.01 && k.rectX + k.rectW <= parent.rectX + parent.rectW + 0.02) }
        }
        // Every non-root frame has exactly one parent interval.
        for f in fs where f.depth > 0 {
            #expect(fs.filter { $0.depth == f.depth - 1 && $0.x <= f.x && $0.x + $0.w >= f.x + f.w }.count == 1)
        }
    }

    @Test func widthIsProportionalToSamples() throws {
        let fs = try frames(FlameGraphSVG.render(try profile("p;a 25\np;b 60\np 15\n")))
        let a = try #require(fs.first { $0.name == "a" }), b = try #require(fs.first { $0.name == "b" })
        let p = try #require(fs.first { $0.name == "p" })
        #expect(abs(a.rectW - 0.25 * Self.graphWidth) < 0.01)
        #expect(abs(b.rectW - 0.60 * Self.graphWidth) < 0.01)
        #expect(abs(p.rectW - Self.graphWidth) < 0.01)
        #expect(abs(b.rectX - (a.rectX + a.rectW)) < 0.01)
        #expect(a.title == "a (25 samples, 25.00%)")
    }

    @Test func siblingsSortedAndMerged() throws {
        let text = "p;zeta;x 1\np;alpha 2\np;Mid 1\np;beta_[k] 1\np;zeta;y 4\nq;alpha 1\np;alpha 3\n"
        let fs = try frames(FlameGraphSVG.render(try profile(text)))
        let pX = try #require(fs.first { $0.name == "p" && $0.depth == 1 }).x
        let level = fs.filter { $0.depth == 2 && $0.x >= pX && $0.x < pX + 12 }.sorted { $0.x < $1.x }
        #expect(level.map(\.name) == ["Mid", "alpha", "beta", "zeta"])
        #expect(level.map(\.w) == [1, 5, 1, 5])
        #expect(fs.filter { $0.depth == 1 }.map(\.name) == ["p", "q"])
        #expect(fs.filter { $0.name == "alpha" }.count == 2, "same name under different parents stays separate")
        #expect(fs.filter { $0.depth == 3 }.sorted { $0.x < $1.x }.map(\.name) == ["x", "y"])
    }

    @Test func escapesNames() throws {
        let p = try FoldedProfile.parse(FoldedTests.fixture("folded-mixed"))
        let svg = FlameGraphSVG.render(p)
        let fs = try frames(svg)
        let names = Set(fs.map(\.name))
        #expect(names.contains("std::vector<std::pair<int, char const*>>::push_back(std::pair<int, char const*>&&)"))
        #expect(names.contains("[unknown] (libc.so.6)"))
        #expect(names.contains("a \"quoted\" & 'apos'"))
        #expect(names.contains("x<y>z"))
        let markup = try #require(svg.components(separatedBy: "<script").first)  // the script legitimately has "&&"
        #expect(!markup.contains("<std::") && !markup.contains("&&") && !markup.contains("x<y"))
        // Control characters are not allowed in XML 1.0 at all.
        let ctl = FoldedProfile(stacks: [FoldedStack(frames: ["bad\u{1}comm", "f"], count: 1)])
        #expect(try frames(FlameGraphSVG.render(ctl)).contains { $0.name == "bad\u{FFFD}comm" })
    }

    @Test func frameKindsAndColours() throws {
        let p = try FoldedProfile.parse(FoldedTests.fixture("folded-mixed"))
        let fs = try frames(FlameGraphSVG.render(p))
        func frame(_ name: String) throws -> Frame { try #require(fs.first { $0.name == name }) }

        let k = try frame("tcp_sendmsg")
        #expect(k.fill == FlameGraphSVG.color(name: "tcp_sendmsg", kind: .kernel).svg)
        #expect(!fs.contains { $0.title.contains("_[k]") || $0.label.contains("_[k]") })
        #expect(try frame("do_syscall_64").label == "do_syscall_64")
        for name in ["_start", "main", "operate", "Curl_multi_perform", "[unknown] (libc.so.6)", "__send", "uv_run", "x<y>z"] {
            #expect(try frame(name).fill == FlameGraphSVG.color(name: name, kind: .user).svg)
        }
        #expect(try frame("curl").fill == FlameGraphSVG.color(name: "curl", kind: .comm).svg)
        #expect(try frame("[softirq:net_rx]").fill == FlameGraphSVG.color(name: "[softirq:net_rx]", kind: .pseudo).svg)
        #expect(try frame("LazyCompile:*render /srv/app.js:10").fill
                == FlameGraphSVG.color(name: "LazyCompile:*render /srv/app.js:10", kind: .jit).svg)

        // The palettes are the documented families, for any name.
        for name in ["ip_rcv", "tcp_v4_rcv", "schedule", "a", "", "x\u{e9}y", "net_rx_action"] {
            let (kr, kg, kb) = rgb(FlameGraphSVG.color(name: name, kind: .kernel).svg)
            #expect(kr >= 225 && (120...175).contains(kg) && (50...80).contains(kb) && kr - kg >= 80)  // orange
            let (ur, _, ub) = rgb(FlameGraphSVG.color(name: name, kind: .user).svg)
            #expect(ur >= 205 && ub <= 55)                                        // red..yellow
            let (cr, cg, cb) = rgb(FlameGraphSVG.color(name: name, kind: .comm).svg)
            #expect(cr == cg && cg == cb)                                         // grey
            let (pr, _, pb) = rgb(FlameGraphSVG.color(name: name, kind: .pseudo).svg)
            #expect(pb > pr + 30)                                                 // grey-blue
        }
        #expect(FlameGraphSVG.color(name: "ip_rcv", kind: .kernel) == FlameGraphSVG.color(name: "ip_rcv", kind: .kernel))
    }

    @Test func coloursFollowTheFrameKind() throws {
        // The kind travels beside the name; the task name at depth 1 is drawn as such whatever its kind.
        var t = FrameTable()
        let comm = t.id("ksoftirqd/0", kind: .user), k = t.id("ip_rcv", kind: .kernel)
        let p = t.id("[softirq:net_rx]", kind: .pseudo), u = t.id("main", kind: .user)
        let svg = FlameGraphSVG.render(InternedProfile(table: t, stacks: [InternedStack(frames: [comm, p, u, k], count: 1)]))
        let fs = try frames(svg)
        #expect(fs.map { String($0.title.prefix { $0 != " " }) } == ["all", "ksoftirqd/0", "[softirq:net_rx]", "main", "ip_rcv"])
        #expect(fs.map(\.fill) == [FlameGraphSVG.color(name: "all", kind: .root), FlameGraphSVG.color(name: "ksoftirqd/0", kind: .comm),
                                   FlameGraphSVG.color(name: "[softirq:net_rx]", kind: .pseudo),
                                   FlameGraphSVG.color(name: "main", kind: .user), FlameGraphSVG.color(name: "ip_rcv", kind: .kernel)].map(\.svg))
    }

    @Test func emptyProfile() throws {
        for p in [FoldedProfile(stacks: []), FoldedProfile(stacks: [FoldedStack(frames: ["a"], count: 0)])] {
            let svg = FlameGraphSVG.render(p)
            let root = try parseSVG(svg)
            #expect(root.descendant(id: "nosamples")?.text == "no samples")
            #expect(root.descendant(id: "frames") == nil)
        }
    }

    @Test func narrowFramesAreOmitted() throws {
        let fs = try frames(FlameGraphSVG.render(try profile("p;big 1000000\np;tiny 1\n")))
        #expect(fs.map { String($0.title.prefix { $0 != " " }) } == ["all", "p", "big"])
        var o = FlameGraphOptions()
        o.minWidthPx = 0
        #expect(try frames(FlameGraphSVG.render(try profile("p;big 1000000\np;tiny 1\n"), options: o)).count == 4)
    }

    @Test func invertedPutsRootOnTop() throws {
        let text = "p;a;b 2\n"
        var o = FlameGraphOptions()
        let flame = try frames(FlameGraphSVG.render(try profile(text), options: o))
        #expect(flame[0].rectY > flame[3].rectY)
        o.inverted = true
        let icicle = try frames(FlameGraphSVG.render(try profile(text), options: o))
        #expect(icicle[0].rectY < icicle[3].rectY)
        #expect(icicle.map(\.depth) == [0, 1, 2, 3])
    }

    @Test func labelsAreTruncatedToFit() {
        #expect(FlameGraphSVG.label("handle_softirqs", widthPx: 1000, charWidth: 7) == "handle_softirqs")
        #expect(FlameGraphSVG.label("handle_softirqs", widthPx: 6 + 7 * 8, charWidth: 7) == "handle..")
        #expect(FlameGraphSVG.label("handle_softirqs", widthPx: 20, charWidth: 7) == "")
    }

    @Test func largeProfileRenders() throws {
        var stacks: [FoldedStack] = []
        var total: UInt64 = 0
        for i in 0..<100_000 {
            stacks.append(FoldedStack(frames: ["comm\(i % 7)", "f\(i % 13)", "g\(i % 101)", "h\(i % 997)", "leaf\(i)"], count: UInt64(i % 5 + 1)))
            total += UInt64(i % 5 + 1)
        }
        let svg = FlameGraphSVG.render(FoldedProfile(stacks: stacks))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("data-total=\"\(total)\""))
        #expect(svg.contains("<title>comm3 ("))
    }
}
