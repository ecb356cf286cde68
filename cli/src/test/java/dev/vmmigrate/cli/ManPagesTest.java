package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checked-in man pages (man/*.1) and the AsciiDoc picocli generates for them
 * (docs/man/generated) are what the current command definitions and templates make: an option
 * whose description changed without {@code scripts/generate-man-pages} fails here, naming the
 * file and its first differing line.
 */
class ManPagesTest {
    private static final String REGENERATE = "run scripts/generate-man-pages and commit the result";

    @TempDir
    static Path scratch;

    /** Generated once: Asciidoctor starts a JRuby, several seconds. */
    private static Map<Path, String> generated;
    private static Path root;

    @BeforeAll
    static void generate() throws IOException {
        root = projectRoot();
        generated = ManPages.generate(root, scratch);
    }

    @Test
    void checkedInFilesAreWhatTheDefinitionsMake() throws IOException {
        StringBuilder problems = new StringBuilder();
        for (Map.Entry<Path, String> e : generated.entrySet()) {
            Path file = root.resolve(e.getKey());
            String actual = Files.exists(file) ? Files.readString(file) : null;
            String difference = firstDifference(e.getKey(), actual, e.getValue());
            if (difference != null) {
                problems.append(difference).append('\n');
            }
        }
        if (!problems.isEmpty()) {
            fail(problems + REGENERATE);
        }
    }

    /** A page left behind (its template or command gone) would go on being installed and read. */
    @Test
    void noCheckedInPageIsLeftOver() throws IOException {
        Set<Path> stale = new TreeSet<>();
        stale.addAll(list(ManPages.MAN, ".1"));
        stale.addAll(list(ManPages.GENERATED, ".adoc"));
        stale.removeAll(generated.keySet());
        assertTrue(stale.isEmpty(), "not made by any template: " + stale + "; delete them or add a template");
    }

    /** A new subcommand must get a page: a template of its own in docs/man/templates. */
    @Test
    void everyCommandHasATemplate() throws IOException {
        Set<String> templates = ManPages.templates(root).stream().map(ManPages::pageName)
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> commands = ManPages.documentedCommands().stream().map(s -> s.qualifiedName("-"))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(commands, templates, "docs/man/templates/*.adoc, one per command");
    }

    /** Pages must be the same on every machine and every day: no date, no build path in them. */
    @Test
    void pagesCarryNeitherTodayNorAPath() {
        for (Map.Entry<Path, String> e : generated.entrySet()) {
            String text = e.getValue();
            assertFalse(text.contains(scratch.toString()), e.getKey() + " names the scratch directory");
            assertFalse(text.contains(root.toString()), e.getKey() + " names the project directory");
            if (e.getKey().toString().endsWith(".1")) {
                assertTrue(text.contains(ManPages.REVDATE), e.getKey() + " lacks the fixed date");
            }
        }
    }

    /** The comparison itself: a changed line is reported with the file and its line number. */
    @Test
    void aChangedLineIsNamed() {
        String difference = firstDifference(Path.of("man/x.1"), "a\nb\nc\n", "a\nB\nc\n");
        assertEquals("man/x.1: line 2 differs\n  checked in: b\n  generated:  B", difference);
        assertEquals("man/x.1: missing", firstDifference(Path.of("man/x.1"), null, "a\n"));
        assertEquals("man/x.1: line 2 differs\n  checked in: (end of file)\n  generated:  b",
                firstDifference(Path.of("man/x.1"), "a\n", "a\nb\n"));
        assertNull(firstDifference(Path.of("man/x.1"), "a\n", "a\n"));
    }

    /** The first line where the checked-in text differs from the generated one, or null if equal. */
    static String firstDifference(Path file, String checkedIn, String expected) {
        if (checkedIn == null) {
            return file + ": missing";
        }
        if (checkedIn.equals(expected)) {
            return null;
        }
        List<String> have = checkedIn.lines().toList();
        List<String> want = expected.lines().toList();
        for (int i = 0; i < Math.max(have.size(), want.size()); i++) {
            String h = i < have.size() ? have.get(i) : "(end of file)";
            String w = i < want.size() ? want.get(i) : "(end of file)";
            if (!h.equals(w)) {
                return file + ": line " + (i + 1) + " differs\n  checked in: " + h + "\n  generated:  " + w;
            }
        }
        return file + ": differs in line endings or the final newline";
    }

    private static Set<Path> list(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.list(root.resolve(dir))) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix))
                    .map(p -> dir.resolve(p.getFileName())).collect(Collectors.toSet());
        }
    }

    /** Surefire runs in cli/; the project root is the directory above that holds man/. */
    private static Path projectRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve(ManPages.TEMPLATES)) && Files.isDirectory(d.resolve(ManPages.MAN))) {
                return d;
            }
        }
        throw new IllegalStateException("no docs/man/templates above " + dir);
    }
}
