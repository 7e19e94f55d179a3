import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checks that every region of the examples marked {@code // README:name ... // README:end} appears in the README as
 * a Java code block, word for word (indentation removed), so the README's snippets are code that compiles.
 * Usage: {@code java ReadmeCheck.java README.md examples/src/main/java}
 */
public class ReadmeCheck {
    public static void main(String[] args) throws IOException {
        String readme = Files.readString(Path.of(args[0]));
        List<String> blocks = new ArrayList<>();
        Matcher m = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
        while (m.find()) blocks.add(m.group(1).strip());
        List<Path> sources;
        try (Stream<Path> s = Files.walk(Path.of(args[1]))) {
            sources = s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
        int regions = 0, missing = 0;
        Pattern region = Pattern.compile("\n([ \t]*)// README:([a-z0-9-]+)\n(.*?)\n[ \t]*// README:end", Pattern.DOTALL);
        for (Path p : sources) {
            Matcher r = region.matcher(Files.readString(p));
            while (r.find()) {
                regions++;
                String text = r.group(3).stripIndent().strip();
                if (!blocks.contains(text)) {
                    missing++;
                    System.err.println("README.md lacks the region '" + r.group(2) + "' of " + p + " as a ```java block:\n" + text + "\n");
                }
            }
        }
        if (regions == 0) throw new IllegalStateException("no README regions found under " + args[1]);
        if (missing > 0) System.exit(1);
        System.out.println("README snippets: " + regions + " regions of the examples, all in README.md");
    }
}
