package dev.vmmigrate.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.asciidoctor.Asciidoctor;
import org.asciidoctor.Attributes;
import org.asciidoctor.Options;
import org.asciidoctor.SafeMode;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.codegen.docgen.manpage.ManPageGenerator;

/**
 * Makes the man pages from the picocli commands, so that their NAME, SYNOPSIS, OPTIONS, ARGUMENTS
 * and EXIT STATUS are what {@code --help} says: picocli-codegen writes one AsciiDoc file per
 * command ({@code docs/man/generated}), the hand-written templates ({@code docs/man/templates})
 * include its parts by tag around their own prose, and Asciidoctor's manpage backend turns each
 * template into troff ({@code man/*.1}).
 *
 * <p>Test scope only (picocli-codegen, AsciidoctorJ and its JRuby stay out of the shipped jar).
 * {@code scripts/generate-man-pages} runs {@link #main}; {@link ManPagesTest} compares the
 * checked-in files with {@link #generate}.
 */
final class ManPages {
    static final Path GENERATED = Path.of("docs/man/generated");
    static final Path TEMPLATES = Path.of("docs/man/templates");
    static final Path MAN = Path.of("man");

    /**
     * The date in every page's header. Fixed, not today's date: a page regenerated with no change
     * must come out byte for byte the same, or the check in ManPagesTest could never pass.
     * Change it when the pages change materially.
     */
    static final String REVDATE = "December 2026";

    private ManPages() {
    }

    /**
     * Every file this makes, by path relative to the project root: the generated AsciiDoc of each
     * page that has a template, and its man page. Reads the templates from {@code root}; writes
     * nothing there ({@code scratch} holds the AsciiDoc that the templates include).
     */
    static Map<Path, String> generate(Path root, Path scratch) throws IOException {
        Map<Path, String> adoc = generatedAsciiDoc();
        Path includes = Files.createDirectories(scratch.resolve("generated"));
        for (Map.Entry<Path, String> e : adoc.entrySet()) {
            Files.writeString(includes.resolve(e.getKey().getFileName()), e.getValue());
        }
        Map<Path, String> files = new LinkedHashMap<>();
        try (Asciidoctor asciidoctor = Asciidoctor.Factory.create()) {
            for (Path template : templates(root)) {
                String page = pageName(template);
                Path generated = GENERATED.resolve(page + ".adoc");
                if (!adoc.containsKey(generated)) {
                    throw new IllegalStateException(template + " has no command " + page);
                }
                files.put(generated, adoc.get(generated));
                files.put(MAN.resolve(page + ".1"), troff(asciidoctor, template, includes));
            }
        }
        return files;
    }

    /** The templates, one a page: {@code docs/man/templates/vm-migrate*.adoc}, sorted. */
    static List<Path> templates(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root.resolve(TEMPLATES))) {
            return s.filter(p -> p.getFileName().toString().matches("vm-migrate.*\\.adoc")).sorted().toList();
        }
    }

    static String pageName(Path template) {
        String name = template.getFileName().toString();
        return name.substring(0, name.length() - ".adoc".length());
    }

    /**
     * picocli's AsciiDoc for the command and each subcommand a user runs (not {@code help} or
     * {@code completion}, which the top page covers), keyed by {@code docs/man/generated/NAME.adoc}.
     */
    static Map<Path, String> generatedAsciiDoc() {
        Map<Path, String> pages = new LinkedHashMap<>();
        for (CommandSpec spec : documentedCommands()) {
            // The usage help heads the list "Exit codes:"; a man page's section is EXIT STATUS.
            if (!spec.usageMessage().exitCodeList().isEmpty()) {
                spec.usageMessage().exitCodeListHeading("Exit status%n");
            }
            StringWriter out = new StringWriter();
            try (PrintWriter pw = new PrintWriter(out)) {
                ManPageGenerator.writeSingleManPage(pw, spec);
            }
            pages.put(GENERATED.resolve(spec.qualifiedName("-") + ".adoc"), out.toString().replace("\r\n", "\n"));
        }
        return pages;
    }

    /** The commands that get a man page: the top command and its subcommands but help and completion. */
    static List<CommandSpec> documentedCommands() {
        CommandLine top = VmMigrate.commandLine();
        List<CommandSpec> specs = new ArrayList<>();
        specs.add(top.getCommandSpec());
        for (CommandLine sub : top.getSubcommands().values()) {
            CommandSpec spec = sub.getCommandSpec();
            boolean helper = spec.helpCommand() || spec.usageMessage().hidden()
                    || spec.userObject() instanceof picocli.AutoComplete.GenerateCompletion;
            if (!helper && !specs.contains(spec)) {
                specs.add(spec);
            }
        }
        return specs;
    }

    private static String troff(Asciidoctor asciidoctor, Path template, Path includes) throws IOException {
        Attributes attributes = Attributes.builder()
                .attribute("includedir", includes.toString())
                .attribute("revdate", REVDATE)
                .attribute("docdate", REVDATE)
                .attribute("mansource", "vm-migrate")
                .attribute("manmanual", "User Commands")
                .build();
        Options options = Options.builder()
                .backend("manpage")
                .standalone(true)
                .safe(SafeMode.UNSAFE) // the includes live outside the template's directory
                .baseDir(template.getParent().toFile())
                .attributes(attributes)
                .build();
        return asciidoctor.convert(Files.readString(template), options);
    }

    /** Rewrites docs/man/generated/*.adoc and man/*.1 under the project root (args[0], default "."). */
    public static void main(String[] args) throws IOException {
        long start = System.nanoTime();
        Path root = Path.of(args.length > 0 ? args[0] : ".").toAbsolutePath().normalize();
        Path scratch = Files.createTempDirectory("vm-migrate-man");
        Map<Path, String> files;
        try {
            files = generate(root, scratch);
        } finally {
            deleteTree(scratch);
        }
        for (Map.Entry<Path, String> e : files.entrySet()) {
            Path target = root.resolve(e.getKey());
            Files.createDirectories(target.getParent());
            boolean changed = !Files.exists(target) || !Files.readString(target).equals(e.getValue());
            Files.writeString(target, e.getValue());
            System.out.println((changed ? "wrote     " : "unchanged ") + e.getKey());
        }
        // A page whose template is gone would go on being read (ManPagesTest refuses it too).
        deleteStale(root, MAN, ".1", files);
        deleteStale(root, GENERATED, ".adoc", files);
        System.out.printf("%d files in %d ms%n", files.size(), (System.nanoTime() - start) / 1_000_000);
    }

    private static void deleteStale(Path root, Path dir, String suffix, Map<Path, String> made) throws IOException {
        try (Stream<Path> s = Files.list(root.resolve(dir))) {
            for (Path file : s.filter(f -> f.getFileName().toString().endsWith(suffix)).toList()) {
                if (!made.containsKey(dir.resolve(file.getFileName()))) {
                    Files.delete(file);
                    System.out.println("deleted   " + dir.resolve(file.getFileName()));
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
