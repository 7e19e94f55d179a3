package dev.llamajava.internal.schema;

import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A trie of words as sequences of Unicode code points, children in code point order (llama.cpp's
 * {@code common_trie}, the part the grammar converter uses).
 */
public final class CodePointTrie {

    /** One node: its children by code point, and the index of the word ending here. */
    public static final class Node {
        private final SortedMap<Integer, Node> children = new TreeMap<>();
        private int pattern = -1;

        private Node() { }

        /** @return the children keyed by code point, in ascending order; unmodifiable */
        public SortedMap<Integer, Node> children() {
            return Collections.unmodifiableSortedMap(children);
        }

        /** @return the index of the word that ends at this node (insertion order), -1 if none */
        public int pattern() {
            return pattern;
        }
    }

    private final Node root = new Node();
    private int size = 1;
    private int patterns;

    /**
     * A trie of the given words.
     *
     * @param words the words to insert, in order
     */
    public CodePointTrie(List<String> words) {
        for (String w : words) insert(w);
    }

    /**
     * Inserts a word.
     *
     * @param word the word
     * @return its index: insertion order, a duplicate keeps the first index
     */
    public int insert(String word) {
        Node current = root;
        for (int cp : word.codePoints().toArray()) {
            Node next = current.children.get(cp);
            if (next == null) {
                next = new Node();
                size++;
                current.children.put(cp, next);
            }
            current = next;
        }
        if (current.pattern < 0) current.pattern = patterns++;
        return current.pattern;
    }

    /** @return the root node */
    public Node root() {
        return root;
    }

    /** @return the number of nodes, the root included */
    public int size() {
        return size;
    }
}
