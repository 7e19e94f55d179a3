/*
 * llama-java bindgen: generates jextract-style Panama bindings of llama.h (and the parts of the
 * ggml headers it needs) by reading the headers with libclang, called through FFM.
 *
 * Run (JDK 25 source launcher, no build step):
 *   java --enable-native-access=ALL-UNNAMED bindings/generator/BindGen.java \
 *        --libclang /usr/lib/llvm-14/lib/libclang.so.1 \
 *        -I <llama.cpp>/include -I <llama.cpp>/ggml/include -I native/shim \
 *        --header llama.h --header ggml-backend.h --header llamajava.h \
 *        --extra-header ggml.h \
 *        --package dev.llamajava.ffi --lookup-class dev.llamajava.internal.loader.NativeLoader \
 *        --out bindings/src/main/java
 *
 * What it writes: one header class (llama_h) holding the C layouts, a downcall MethodHandle per
 * function (with a static method that invokes it), the enum constants and the integer macros;
 * one class per struct or union with its MemoryLayout (explicit padding from clang's offsets)
 * and accessors; one class per function-pointer type with an upcall interface. Deprecated
 * declarations are left out. The header's comments (plain // and block comments as well as doxygen ones, above a
 * declaration or trailing on its line) become javadoc of the generated methods, accessors, constants and classes.
 * Symbols are looked up with --lookup-class's symbolLookup() (imported), or with the expression given as --lookup.
 * The output is deterministic (no dates, no absolute paths).
 */

import java.io.IOException;
import java.lang.foreign.*;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.stream.Collectors;

import static java.lang.foreign.ValueLayout.*;

public final class BindGen {

    // ------------------------------------------------------------------ libclang through FFM

    static final class Clang {
        static final StructLayout CXCursor = MemoryLayout.structLayout(JAVA_INT.withName("kind"), JAVA_INT.withName("xdata"),
                MemoryLayout.sequenceLayout(3, ADDRESS).withName("data"));
        static final StructLayout CXType = MemoryLayout.structLayout(JAVA_INT.withName("kind"), MemoryLayout.paddingLayout(4),
                MemoryLayout.sequenceLayout(2, ADDRESS).withName("data"));
        static final StructLayout CXString = MemoryLayout.structLayout(ADDRESS.withName("data"), JAVA_INT.withName("flags"),
                MemoryLayout.paddingLayout(4));
        static final StructLayout CXSourceLocation = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(2, ADDRESS),
                JAVA_INT, MemoryLayout.paddingLayout(4));
        static final StructLayout CXSourceRange = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(2, ADDRESS),
                JAVA_INT, JAVA_INT);
        static final StructLayout CXToken = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(4, JAVA_INT), ADDRESS);

        final Linker linker = Linker.nativeLinker();
        final SymbolLookup lib;
        final Arena arena = Arena.ofAuto();
        final Map<String, MethodHandle> handles = new HashMap<>();

        Clang(Path libclang) {
            lib = SymbolLookup.libraryLookup(libclang, Arena.global());
        }

        MethodHandle h(String name, FunctionDescriptor d) {
            return handles.computeIfAbsent(name, n -> linker.downcallHandle(lib.findOrThrow(n), d));
        }

        Object call(String name, FunctionDescriptor d, Object... args) {
            try {
                MethodHandle mh = h(name, d);
                if (d.returnLayout().isPresent() && d.returnLayout().get() instanceof GroupLayout) {
                    Object[] all = new Object[args.length + 1];
                    all[0] = (SegmentAllocator) arena;
                    System.arraycopy(args, 0, all, 1, args.length);
                    return mh.invokeWithArguments(all);
                }
                return mh.invokeWithArguments(args);
            } catch (Throwable t) {
                throw new RuntimeException(name, t);
            }
        }

        String str(MemorySegment cxstring) {
            MemorySegment p = (MemorySegment) call("clang_getCString", FunctionDescriptor.of(ADDRESS, CXString), cxstring);
            String s = p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
            call("clang_disposeString", FunctionDescriptor.ofVoid(CXString), cxstring);
            return s;
        }

        int kind(MemorySegment cursor) { return (int) call("clang_getCursorKind", FunctionDescriptor.of(JAVA_INT, CXCursor), cursor); }
        String spelling(MemorySegment cursor) { return str((MemorySegment) call("clang_getCursorSpelling", FunctionDescriptor.of(CXString, CXCursor), cursor)); }
        MemorySegment type(MemorySegment cursor) { return (MemorySegment) call("clang_getCursorType", FunctionDescriptor.of(CXType, CXCursor), cursor); }
        MemorySegment canonical(MemorySegment t) { return (MemorySegment) call("clang_getCanonicalType", FunctionDescriptor.of(CXType, CXType), t); }
        MemorySegment pointee(MemorySegment t) { return (MemorySegment) call("clang_getPointeeType", FunctionDescriptor.of(CXType, CXType), t); }
        MemorySegment typedefUnderlying(MemorySegment c) { return (MemorySegment) call("clang_getTypedefDeclUnderlyingType", FunctionDescriptor.of(CXType, CXCursor), c); }
        MemorySegment declaration(MemorySegment t) { return (MemorySegment) call("clang_getTypeDeclaration", FunctionDescriptor.of(CXCursor, CXType), t); }
        MemorySegment resultType(MemorySegment t) { return (MemorySegment) call("clang_getResultType", FunctionDescriptor.of(CXType, CXType), t); }
        int numArgTypes(MemorySegment t) { return (int) call("clang_getNumArgTypes", FunctionDescriptor.of(JAVA_INT, CXType), t); }
        MemorySegment argType(MemorySegment t, int i) { return (MemorySegment) call("clang_getArgType", FunctionDescriptor.of(CXType, CXType, JAVA_INT), t, i); }
        boolean variadic(MemorySegment t) { return (int) call("clang_isFunctionTypeVariadic", FunctionDescriptor.of(JAVA_INT, CXType), t) != 0; }
        String typeSpelling(MemorySegment t) { return str((MemorySegment) call("clang_getTypeSpelling", FunctionDescriptor.of(CXString, CXType), t)); }
        long sizeOf(MemorySegment t) { return (long) call("clang_Type_getSizeOf", FunctionDescriptor.of(JAVA_LONG, CXType), t); }
        long alignOf(MemorySegment t) { return (long) call("clang_Type_getAlignOf", FunctionDescriptor.of(JAVA_LONG, CXType), t); }
        long arraySize(MemorySegment t) { return (long) call("clang_getArraySize", FunctionDescriptor.of(JAVA_LONG, CXType), t); }
        MemorySegment arrayElement(MemorySegment t) { return (MemorySegment) call("clang_getArrayElementType", FunctionDescriptor.of(CXType, CXType), t); }
        long fieldOffsetBits(MemorySegment c) { return (long) call("clang_Cursor_getOffsetOfField", FunctionDescriptor.of(JAVA_LONG, CXCursor), c); }
        boolean isBitField(MemorySegment c) { return (int) call("clang_Cursor_isBitField", FunctionDescriptor.of(JAVA_INT, CXCursor), c) != 0; }
        boolean isAnonymousRecord(MemorySegment c) { return (int) call("clang_Cursor_isAnonymousRecordDecl", FunctionDescriptor.of(JAVA_INT, CXCursor), c) != 0; }
        boolean isAnonymous(MemorySegment c) { return (int) call("clang_Cursor_isAnonymous", FunctionDescriptor.of(JAVA_INT, CXCursor), c) != 0; }
        boolean isDefinition(MemorySegment c) { return (int) call("clang_isCursorDefinition", FunctionDescriptor.of(JAVA_INT, CXCursor), c) != 0; }
        int availability(MemorySegment c) { return (int) call("clang_getCursorAvailability", FunctionDescriptor.of(JAVA_INT, CXCursor), c); }
        long enumValue(MemorySegment c) { return (long) call("clang_getEnumConstantDeclValue", FunctionDescriptor.of(JAVA_LONG, CXCursor), c); }
        MemorySegment enumIntegerType(MemorySegment c) { return (MemorySegment) call("clang_getEnumDeclIntegerType", FunctionDescriptor.of(CXType, CXCursor), c); }
        boolean macroFunctionLike(MemorySegment c) { return (int) call("clang_Cursor_isMacroFunctionLike", FunctionDescriptor.of(JAVA_INT, CXCursor), c) != 0; }

        /** The comment libclang attaches to a declaration (empty if none), with its markers. */
        String rawComment(MemorySegment c) {
            return str((MemorySegment) call("clang_Cursor_getRawCommentText", FunctionDescriptor.of(CXString, CXCursor), c));
        }

        /** First and last line of the comment attached to a declaration. */
        int[] commentLines(MemorySegment c) {
            MemorySegment r = (MemorySegment) call("clang_Cursor_getCommentRange", FunctionDescriptor.of(CXSourceRange, CXCursor), c);
            return new int[]{line(rangeStart(r)), line(rangeEnd(r))};
        }

        /** Line of the first token of a declaration (not of its name, which may sit on a later line). */
        int extentStartLine(MemorySegment c) {
            MemorySegment r = (MemorySegment) call("clang_getCursorExtent", FunctionDescriptor.of(CXSourceRange, CXCursor), c);
            return line(rangeStart(r));
        }

        /** File (full path), line and column (1-based) just past the last token of a declaration. */
        Object[] extentEnd(MemorySegment c) {
            MemorySegment r = (MemorySegment) call("clang_getCursorExtent", FunctionDescriptor.of(CXSourceRange, CXCursor), c);
            MemorySegment file = arena.allocate(ADDRESS);
            MemorySegment line = arena.allocate(JAVA_INT);
            MemorySegment col = arena.allocate(JAVA_INT);
            call("clang_getFileLocation", FunctionDescriptor.ofVoid(CXSourceLocation, ADDRESS, ADDRESS, ADDRESS, ADDRESS),
                    rangeEnd(r), file, line, col, MemorySegment.NULL);
            MemorySegment f = file.get(ADDRESS, 0);
            String name = f.equals(MemorySegment.NULL) ? "" : str((MemorySegment) call("clang_getFileName", FunctionDescriptor.of(CXString, ADDRESS), f));
            return new Object[]{name, line.get(JAVA_INT, 0), col.get(JAVA_INT, 0)};
        }

        MemorySegment rangeStart(MemorySegment r) { return (MemorySegment) call("clang_getRangeStart", FunctionDescriptor.of(CXSourceLocation, CXSourceRange), r); }
        MemorySegment rangeEnd(MemorySegment r) { return (MemorySegment) call("clang_getRangeEnd", FunctionDescriptor.of(CXSourceLocation, CXSourceRange), r); }

        int line(MemorySegment loc) {
            MemorySegment line = arena.allocate(JAVA_INT);
            call("clang_getFileLocation", FunctionDescriptor.ofVoid(CXSourceLocation, ADDRESS, ADDRESS, ADDRESS, ADDRESS),
                    loc, MemorySegment.NULL, line, MemorySegment.NULL, MemorySegment.NULL);
            return line.get(JAVA_INT, 0);
        }

        /** File name (base name) and line of a cursor. */
        String[] location(MemorySegment c) {
            MemorySegment loc = (MemorySegment) call("clang_getCursorLocation", FunctionDescriptor.of(CXSourceLocation, CXCursor), c);
            MemorySegment file = arena.allocate(ADDRESS);
            MemorySegment line = arena.allocate(JAVA_INT);
            call("clang_getFileLocation", FunctionDescriptor.ofVoid(CXSourceLocation, ADDRESS, ADDRESS, ADDRESS, ADDRESS),
                    loc, file, line, MemorySegment.NULL, MemorySegment.NULL);
            MemorySegment f = file.get(ADDRESS, 0);
            if (f.equals(MemorySegment.NULL)) return new String[]{"", "0"};
            String name = str((MemorySegment) call("clang_getFileName", FunctionDescriptor.of(CXString, ADDRESS), f));
            return new String[]{Path.of(name).getFileName().toString(), Integer.toString(line.get(JAVA_INT, 0))};
        }

        List<MemorySegment> children(MemorySegment cursor) {
            List<MemorySegment> out = new ArrayList<>();
            try {
                MethodHandle target = MethodHandles.lookup().findVirtual(Collector.class, "visit",
                        MethodType.methodType(int.class, MemorySegment.class, MemorySegment.class, MemorySegment.class));
                Collector col = new Collector(out, arena);
                FunctionDescriptor vd = FunctionDescriptor.of(JAVA_INT, CXCursor, CXCursor, ADDRESS);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment stub = linker.upcallStub(target.bindTo(col), vd, a);
                    call("clang_visitChildren", FunctionDescriptor.of(JAVA_INT, CXCursor, ADDRESS, ADDRESS), cursor, stub, MemorySegment.NULL);
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            return out;
        }

        record Collector(List<MemorySegment> out, Arena arena) {
            public int visit(MemorySegment c, MemorySegment parent, MemorySegment data) {
                try {
                    MemorySegment copy = arena.allocate(CXCursor);
                    copy.copyFrom(c);
                    out.add(copy);
                } catch (Throwable t) {
                    t.printStackTrace();
                }
                return 1; // CXChildVisit_Continue
            }
        }

        List<String> tokens(MemorySegment tu, MemorySegment cursor) {
            MemorySegment range = (MemorySegment) call("clang_getCursorExtent", FunctionDescriptor.of(CXSourceRange, CXCursor), cursor);
            MemorySegment toks = arena.allocate(ADDRESS);
            MemorySegment n = arena.allocate(JAVA_INT);
            call("clang_tokenize", FunctionDescriptor.ofVoid(ADDRESS, CXSourceRange, ADDRESS, ADDRESS), tu, range, toks, n);
            int count = n.get(JAVA_INT, 0);
            MemorySegment arr = toks.get(ADDRESS, 0).reinterpret(CXToken.byteSize() * count);
            List<String> out = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                MemorySegment tok = arr.asSlice(i * CXToken.byteSize(), CXToken.byteSize());
                out.add(str((MemorySegment) call("clang_getTokenSpelling", FunctionDescriptor.of(CXString, ADDRESS, CXToken), tu, tok)));
            }
            call("clang_disposeTokens", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT), tu, toks.get(ADDRESS, 0), count);
            return out;
        }
    }

    // cursor kinds and type kinds (libclang's Index.h)
    static final int CK_STRUCT = 2, CK_UNION = 3, CK_ENUM = 5, CK_FIELD = 6, CK_ENUM_CONST = 7, CK_FUNCTION = 8,
            CK_PARM = 10, CK_TYPEDEF = 20, CK_MACRO_DEF = 501;
    static final int TK_VOID = 2, TK_BOOL = 3, TK_CHAR_U = 4, TK_UCHAR = 5, TK_USHORT = 8, TK_UINT = 9, TK_ULONG = 10,
            TK_ULONGLONG = 11, TK_CHAR_S = 13, TK_SCHAR = 14, TK_SHORT = 16, TK_INT = 17, TK_LONG = 18, TK_LONGLONG = 19,
            TK_FLOAT = 21, TK_DOUBLE = 22, TK_POINTER = 101, TK_RECORD = 105, TK_ENUM = 106, TK_TYPEDEF = 107,
            TK_FUNCTION_NOPROTO = 110, TK_FUNCTION_PROTO = 111, TK_CONSTANT_ARRAY = 112, TK_INCOMPLETE_ARRAY = 114,
            TK_ELABORATED = 119;
    static final int AVAILABILITY_DEPRECATED = 1;

    // ------------------------------------------------------------------ model

    /** A C type as Java sees it. */
    record JType(String layoutExpr, String javaType, String carrier, String recordName, long size) {
        boolean isStruct() { return recordName != null; }
        boolean isVoid() { return javaType.equals("void"); }
    }

    // doc: the C comment of the declaration as javadoc-safe lines, or null where the header has none

    record Field(String name, JType type, long offset, String callbackClass, List<String> doc) {}

    record Record(String name, boolean union, long size, long align, List<Field> fields, List<Record> anon, String where,
                  List<String> callbackFields, List<String> doc) {}

    record Param(String name, JType type) {}

    record Function(String name, JType ret, List<Param> params, String where, List<String> doc) {}

    record Callback(String name, JType ret, List<Param> params, String where, List<String> doc) {}

    record EnumConst(String enumName, String name, long value, List<String> doc) {}

    // ------------------------------------------------------------------ generator state

    final Clang clang;
    final Set<String> headers;      // functions, structs, enums, typedefs from these files are bound
    final Set<String> extraHeaders; // enums and callback typedefs from these are bound when referenced or listed
    final String pkg;
    final String headerClass;
    final String lookupExpr;
    final String lookupImport;   // a class to import for lookupExpr, or null
    final Map<String, Record> records = new LinkedHashMap<>();
    final Map<String, Callback> callbacks = new LinkedHashMap<>();
    final List<Function> functions = new ArrayList<>();
    final List<EnumConst> enumConsts = new ArrayList<>();
    final Map<String, Long> macros = new LinkedHashMap<>();
    final Set<String> enumNames = new LinkedHashSet<>();
    final List<String> skipped = new ArrayList<>();
    final Set<String> deprecated = new TreeSet<>();
    final Map<String, MemorySegment> recordDecls = new HashMap<>();
    final Map<String, MemorySegment> typedefDecls = new HashMap<>();
    final Map<String, MemorySegment> enumDecls = new LinkedHashMap<>();
    final Deque<String> pendingRecords = new ArrayDeque<>();
    final Deque<String> pendingCallbacks = new ArrayDeque<>();
    final Set<String> referencedEnums = new LinkedHashSet<>();

    BindGen(Clang clang, Set<String> headers, Set<String> extraHeaders, String pkg, String headerClass, String lookupExpr,
            String lookupImport) {
        this.clang = clang;
        this.headers = headers;
        this.extraHeaders = extraHeaders;
        this.pkg = pkg;
        this.headerClass = headerClass;
        this.lookupExpr = lookupExpr;
        this.lookupImport = lookupImport;
    }

    boolean bound(String file) { return headers.contains(file); }

    String where(MemorySegment c) {
        String[] l = clang.location(c);
        return l[0] + ":" + l[1];
    }

    JType map(MemorySegment t, String context) {
        MemorySegment can = clang.canonical(t);
        int k = can.get(JAVA_INT, 0);
        switch (k) {
            case TK_VOID: return new JType(null, "void", "void", null, 0);
            case TK_BOOL: return new JType("C_BOOL", "boolean", "boolean", null, 1);
            case TK_CHAR_S: case TK_SCHAR: case TK_CHAR_U: case TK_UCHAR: return new JType("C_CHAR", "byte", "byte", null, 1);
            case TK_SHORT: case TK_USHORT: return new JType("C_SHORT", "short", "short", null, 2);
            case TK_INT: case TK_UINT: return new JType("C_INT", "int", "int", null, 4);
            case TK_LONG: case TK_ULONG: return new JType("C_LONG", "long", "long", null, 8);
            case TK_LONGLONG: case TK_ULONGLONG: return new JType("C_LONG_LONG", "long", "long", null, 8);
            case TK_FLOAT: return new JType("C_FLOAT", "float", "float", null, 4);
            case TK_DOUBLE: return new JType("C_DOUBLE", "double", "double", null, 8);
            case TK_POINTER: case TK_INCOMPLETE_ARRAY: {
                noteCallbackTypedef(t);
                noteReferencedPointee(t);
                return new JType("C_POINTER", "MemorySegment", "MemorySegment", null, 8);
            }
            case TK_ENUM: {
                MemorySegment decl = clang.declaration(can);
                String en = clang.spelling(decl);
                referencedEnums.add(en);
                JType it = map(clang.enumIntegerType(decl), context);
                return it;
            }
            case TK_RECORD: {
                MemorySegment decl = clang.declaration(can);
                String rn = clang.spelling(decl);
                if (rn.isEmpty() || clang.isAnonymous(decl)) throw new IllegalStateException("anonymous record by value in " + context);
                requireRecord(rn, decl);
                return new JType(pkg + "." + javaName(rn) + ".layout()", "MemorySegment", "MemorySegment", rn, clang.sizeOf(can));
            }
            case TK_CONSTANT_ARRAY: {
                JType e = map(clang.arrayElement(can), context);
                long n = clang.arraySize(can);
                return new JType("MemoryLayout.sequenceLayout(" + n + ", " + e.layoutExpr() + ")", "MemorySegment", "MemorySegment",
                        "[" + n + "]", clang.sizeOf(can));
            }
            default:
                throw new IllegalStateException("cannot express type '" + clang.typeSpelling(t) + "' (kind " + k + ") in " + context);
        }
    }

    /** A pointer whose pointee is a named function-pointer typedef is bound as a callback class too. */
    void noteCallbackTypedef(MemorySegment t) {
        int k = t.get(JAVA_INT, 0);
        if (k == TK_ELABORATED) { noteCallbackTypedef(clang.canonical(t)); return; }
        if (k == TK_TYPEDEF) {
            MemorySegment decl = clang.declaration(t);
            String tn = clang.spelling(decl);
            MemorySegment under = clang.canonical(clang.typedefUnderlying(decl));
            if (under.get(JAVA_INT, 0) == TK_POINTER) {
                int pk = clang.canonical(clang.pointee(under)).get(JAVA_INT, 0);
                if (pk == TK_FUNCTION_PROTO || pk == TK_FUNCTION_NOPROTO) {
                    if (!callbacks.containsKey(tn) && !pendingCallbacks.contains(tn)) {
                        typedefDecls.put(tn, decl);
                        pendingCallbacks.add(tn);
                    }
                }
            }
        }
    }

    void noteReferencedPointee(MemorySegment t) {
        // structs reached only through pointers are not bound unless they are defined in a bound header
    }

    void requireRecord(String name, MemorySegment decl) {
        if (!records.containsKey(name) && !pendingRecords.contains(name)) {
            recordDecls.putIfAbsent(name, decl);
            pendingRecords.add(name);
        }
    }

    Record buildRecord(String name, MemorySegment decl) {
        MemorySegment type = clang.type(decl);
        boolean union = clang.kind(decl) == CK_UNION;
        long size = clang.sizeOf(type);
        long align = clang.alignOf(type);
        List<Field> fields = new ArrayList<>();
        List<Record> anon = new ArrayList<>();
        List<String> cbFields = new ArrayList<>();
        Set<String> anonSeen = new HashSet<>();
        int anonIndex = 0;
        for (MemorySegment c : clang.children(decl)) {
            int k = clang.kind(c);
            if (k == CK_FIELD) {
                if (clang.isBitField(c)) throw new IllegalStateException("bit-field in " + name + ": not expressible");
                String fname = clang.spelling(c);
                MemorySegment ft = clang.type(c);
                long off = clang.fieldOffsetBits(c) / 8;
                MemorySegment can = clang.canonical(ft);
                if (can.get(JAVA_INT, 0) == TK_RECORD && clang.isAnonymous(clang.declaration(can))) {
                    String key = clang.spelling(clang.declaration(can)) + "@" + off;
                    if (!anonSeen.add(key)) continue;
                    String an = "$anon$" + (anonIndex++);
                    Record r = buildRecord(an, clang.declaration(can));
                    anon.add(r);
                    fields.add(new Field(fname.isEmpty() ? an : fname, new JType(null, "MemorySegment", "MemorySegment", "$" + an, r.size()), off, null, doc(c)));
                    continue;
                }
                String cb = null;
                if (can.get(JAVA_INT, 0) == TK_POINTER) {
                    int pk = clang.canonical(clang.pointee(can)).get(JAVA_INT, 0);
                    int declared = ft.get(JAVA_INT, 0);
                    if ((pk == TK_FUNCTION_PROTO) && declared != TK_TYPEDEF && declared != TK_ELABORATED) {
                        cb = fname;
                        Callback callback = buildCallback(fname, clang.pointee(can), name + "." + fname, where(c), doc(c));
                        callbacks.put(javaName(name) + "." + fname, callback);
                        cbFields.add(fname);
                    }
                }
                fields.add(new Field(fname, map(ft, name + "." + fname), off, cb, doc(c)));
            } else if ((k == CK_UNION || k == CK_STRUCT) && clang.isAnonymousRecord(c)) {
                // C11 anonymous member: its fields are reached through the enclosing record
                MemorySegment first = clang.children(c).stream().filter(x -> clang.kind(x) == CK_FIELD).findFirst().orElseThrow();
                long off = (long) clang.call("clang_Type_getOffsetOf", FunctionDescriptor.of(JAVA_LONG, Clang.CXType, ADDRESS),
                        type, clang.arena.allocateFrom(clang.spelling(first))) / 8;
                String key = clang.spelling(c) + "@" + off;
                if (!anonSeen.add(key)) continue;
                String an = "$anon$" + (anonIndex++);
                Record r = buildRecord(an, c);
                anon.add(r);
                fields.add(new Field(an, new JType(null, "MemorySegment", "MemorySegment", "$" + an, r.size()), off, null, doc(c)));
            }
        }
        fields.sort(Comparator.comparingLong(Field::offset));
        List<String> doc = doc(decl);
        // `typedef struct x { ... } x;` with the comment above `typedef`: libclang may give it to the typedef only
        if (doc == null && typedefDecls.containsKey(name)) doc = doc(typedefDecls.get(name));
        return new Record(name, union, size, align, fields, anon, where(decl), cbFields, doc);
    }

    Callback buildCallback(String name, MemorySegment fnType, String context, String where, List<String> doc) {
        MemorySegment can = clang.canonical(fnType);
        if (can.get(JAVA_INT, 0) != TK_FUNCTION_PROTO) throw new IllegalStateException("callback without prototype: " + context);
        if (clang.variadic(can)) throw new IllegalStateException("variadic callback: " + context);
        JType ret = map(clang.resultType(can), context);
        List<Param> ps = new ArrayList<>();
        int n = clang.numArgTypes(can);
        for (int i = 0; i < n; i++) ps.add(new Param("arg" + i, map(clang.argType(can, i), context)));
        return new Callback(name, ret, ps, where, doc);
    }

    void collect(MemorySegment tu, MemorySegment root) {
        List<MemorySegment> top = clang.children(root);
        // First pass: index declarations.
        for (MemorySegment c : top) {
            int k = clang.kind(c);
            String[] loc = clang.location(c);
            String file = loc[0];
            if (!bound(file) && !extraHeaders.contains(file)) continue;
            String name = clang.spelling(c);
            if ((k == CK_STRUCT || k == CK_UNION) && clang.isDefinition(c) && !name.isEmpty() && !clang.isAnonymous(c)) {
                recordDecls.put(name, c);
            } else if (k == CK_ENUM && clang.isDefinition(c) && !name.isEmpty()) {
                enumDecls.put(name, c);
            } else if (k == CK_TYPEDEF) {
                typedefDecls.put(name, c);
            }
        }
        for (MemorySegment c : top) {
            int k = clang.kind(c);
            String[] loc = clang.location(c);
            String file = loc[0];
            if (!bound(file)) continue;
            String name = clang.spelling(c);
            boolean dep = clang.availability(c) == AVAILABILITY_DEPRECATED;
            try {
                switch (k) {
                    case CK_FUNCTION -> {
                        if (dep) { deprecated.add(name); continue; }
                        if (functions.stream().anyMatch(f -> f.name().equals(name))) continue;
                        MemorySegment ft = clang.type(c);
                        if (clang.variadic(ft)) { skipped.add(name + " (variadic)"); continue; }
                        JType ret = map(clang.resultType(ft), name);
                        List<Param> ps = new ArrayList<>();
                        List<MemorySegment> kids = clang.children(c).stream().filter(x -> clang.kind(x) == CK_PARM).toList();
                        int n = clang.numArgTypes(ft);
                        for (int i = 0; i < n; i++) {
                            String pn = i < kids.size() ? clang.spelling(kids.get(i)) : "";
                            if (pn.isEmpty()) pn = "arg" + i;
                            ps.add(new Param(safe(pn), map(clang.argType(ft, i), name + "(" + pn + ")")));
                        }
                        functions.add(new Function(name, ret, ps, where(c), doc(c)));
                    }
                    case CK_STRUCT, CK_UNION -> {
                        if (clang.isDefinition(c) && !name.isEmpty() && !clang.isAnonymous(c)) {
                            if (dep) { deprecated.add("struct " + name); continue; }
                            requireRecord(name, c);
                        }
                    }
                    case CK_ENUM -> {
                        if (clang.isDefinition(c) && !name.isEmpty()) referencedEnums.add(name);
                    }
                    case CK_TYPEDEF -> {
                        if (dep) { deprecated.add("typedef " + name); continue; }
                        noteCallbackTypedef(clang.type(c));
                    }
                    case CK_MACRO_DEF -> {
                        if (clang.macroFunctionLike(c)) continue;
                        List<String> toks = clang.tokens(tu, c);
                        Long v = macroValue(toks.subList(1, toks.size()));
                        if (v != null) macros.put(name, v);
                    }
                    default -> { }
                }
            } catch (IllegalStateException e) {
                skipped.add(name + " (" + e.getMessage() + ")");
            }
        }
        // Close over records and callbacks reached from bound declarations.
        while (!pendingRecords.isEmpty() || !pendingCallbacks.isEmpty()) {
            while (!pendingRecords.isEmpty()) {
                String rn = pendingRecords.poll();
                if (records.containsKey(rn)) continue;
                MemorySegment decl = recordDecls.get(rn);
                if (decl == null) { skipped.add("struct " + rn + " (definition not found)"); continue; }
                records.put(rn, null); // reserve to stop cycles
                records.put(rn, buildRecord(rn, decl));
            }
            while (!pendingCallbacks.isEmpty()) {
                String cn = pendingCallbacks.poll();
                if (callbacks.containsKey(cn)) continue;
                MemorySegment decl = typedefDecls.get(cn);
                MemorySegment under = clang.canonical(clang.typedefUnderlying(decl));
                callbacks.put(cn, buildCallback(cn, clang.pointee(under), cn, where(decl), doc(decl)));
            }
        }
        for (String en : referencedEnums) {
            MemorySegment decl = enumDecls.get(en);
            if (decl == null) continue;
            enumNames.add(en);
            for (MemorySegment k : clang.children(decl)) {
                if (clang.kind(k) == CK_ENUM_CONST) enumConsts.add(new EnumConst(en, clang.spelling(k), clang.enumValue(k), doc(k)));
            }
        }
    }

    // ------------------------------------------------------------------ C comments as javadoc

    /**
     * The header's comment for a declaration, as javadoc-safe lines; null where it has none. libclang (run with
     * -fparse-all-comments) attaches the nearest comment before a declaration, or a trailing one on its line; a comment
     * that a blank line separates from the declaration is a section heading (e.g. {@code // Decoding}), not its doc.
     */
    List<String> doc(MemorySegment c) {
        List<String> text = new ArrayList<>();
        String raw = clang.rawComment(c);
        int k = clang.kind(c);
        int[] lines = raw.isBlank() ? null : clang.commentLines(c);
        int declLine = clang.extentStartLine(c);
        if (lines != null && lines[1] >= declLine - 1) {
            List<String> t = commentText(raw);
            // commented-out enumerators above a constant (`// GGML_TYPE_Q4_2 = 4, ...`) are not its doc
            boolean leading = lines[0] < declLine;
            if (!(k == CK_ENUM_CONST && leading && t.stream().allMatch(x -> x.isEmpty() || COMMENTED_OUT_ENUMERATOR.matcher(x).matches()))) {
                text.addAll(t);
            }
        }
        if (k == CK_FUNCTION || k == CK_TYPEDEF) {
            // libclang takes trailing comments for fields, enum constants and variables only
            List<String> trailing = commentText(trailingComment(c));
            if (!text.isEmpty() && !trailing.isEmpty()) text.add("");
            text.addAll(trailing);
        }
        return text.isEmpty() ? null : text.stream().map(BindGen::javadocEscape).toList();
    }

    static final java.util.regex.Pattern COMMENTED_OUT_ENUMERATOR = java.util.regex.Pattern.compile("\\s*[A-Za-z_]\\w*\\s*=\\s*[^,]*,.*");

    final Map<String, List<String>> sources = new HashMap<>();

    /**
     * The comment after a declaration's {@code ;} on its last line ({@code int f(void); // doc}), with the
     * comment-only lines below it that start in the same column (its continuation); "" if none.
     */
    String trailingComment(MemorySegment c) {
        Object[] end = clang.extentEnd(c);
        String file = (String) end[0];
        int line = (int) end[1], col = (int) end[2];
        if (file.isEmpty() || line < 1 || col < 1) return "";
        List<String> lines = sources.computeIfAbsent(file, f -> {
            try {
                return Files.readAllLines(Path.of(f), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return List.of();
            }
        });
        if (line > lines.size()) return "";
        String l = lines.get(line - 1);
        int semi = l.indexOf(';', Math.min(col - 1, l.length()));
        if (semi < 0) return "";
        String rest = l.substring(semi + 1).strip();
        int at = l.indexOf(rest, semi + 1);
        if (rest.startsWith("/*") && rest.indexOf("*/") > 1) return rest;
        if (!rest.startsWith("//")) return "";
        StringBuilder sb = new StringBuilder(rest);
        for (int i = line; i < lines.size(); i++) {
            String next = lines.get(i);
            String body = next.strip();
            if (!body.startsWith("//") || next.indexOf(body) != at) break;
            sb.append('\n').append(body);
        }
        return sb.toString();
    }

    /**
     * The text of a C comment without its markers: {@code //}, {@code ///}, {@code //!}, {@code ///<} lines and
     * {@code /* ... * /}, {@code /** ... * /} blocks (with or without a leading {@code *} on inner lines). Keeps
     * the lines and their relative indentation; drops leading and trailing blank lines.
     */
    static List<String> commentText(String raw) {
        List<String> out = new ArrayList<>();
        boolean inBlock = false;
        for (String line : raw.replace("\r\n", "\n").replace('\r', '\n').replace("\t", "    ").split("\n", -1)) {
            String l = line.strip().isEmpty() ? "" : line.substring(line.indexOf(line.strip().charAt(0)));
            if (!inBlock && l.startsWith("//")) {
                l = l.substring(2);
                if (l.startsWith("/") || l.startsWith("!")) l = l.substring(1);
                if (l.startsWith("<")) l = l.substring(1);
            } else if (!inBlock && l.startsWith("/*")) {
                l = l.substring(2);
                if ((l.startsWith("*") && !l.startsWith("*/")) || l.startsWith("!")) l = l.substring(1);
                if (l.startsWith("<")) l = l.substring(1);
                inBlock = true;
            } else if (inBlock && l.startsWith("*") && !l.startsWith("*/")) {
                l = l.substring(1);
            }
            if (inBlock) {
                int end = l.indexOf("*/");
                if (end >= 0) {
                    l = l.substring(0, end);
                    while (l.endsWith("*")) l = l.substring(0, l.length() - 1);
                    inBlock = false;
                }
            }
            out.add(l.stripTrailing());
        }
        while (!out.isEmpty() && out.getFirst().isEmpty()) out.removeFirst();
        while (!out.isEmpty() && out.getLast().isEmpty()) out.removeLast();
        int indent = out.stream().filter(x -> !x.isEmpty()).mapToInt(x -> x.length() - x.stripLeading().length()).min().orElse(0);
        return out.stream().map(x -> x.isEmpty() ? x : x.substring(indent)).toList();
    }

    /**
     * One line of C comment text made safe for a javadoc comment: HTML-sensitive characters as entities, no
     * {@code @} that javadoc could read as a tag, no comment end, no unicode escape (javac reads a backslash-u
     * escape everywhere, comments included), no leading {@code *} (javadoc strips leading asterisks).
     */
    static String javadocEscape(String l) {
        String e = l.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")
                .replace("*/", "*&#47;").replace("\\u", "&#92;u");
        String body = e.stripLeading();
        if (body.startsWith("*")) e = e.substring(0, e.length() - body.length()) + "&#42;" + body.substring(1);
        return e;
    }

    /**
     * A javadoc comment: {@code summary} (javadoc text, as generated without C documentation), then the C comment's
     * lines, a single line as a paragraph and several in a {@code <pre>} block that keeps the header's line breaks.
     */
    static String javadoc(String indent, String summary, List<String> doc) {
        return doc == null ? indent + "/** " + summary + " */\n" : javadocBlock(indent, summary, doc);
    }

    /** As {@link #javadoc}, always in the multi-line form. */
    static String javadocBlock(String indent, String summary, List<String> doc) {
        StringBuilder sb = new StringBuilder();
        sb.append(indent).append("/**\n");
        for (String s : summary.split("\n")) sb.append(indent).append(" * ").append(s).append('\n');
        if (doc == null) {
            // summary only
        } else if (doc.size() == 1) {
            sb.append(indent).append(" * <p>\n").append(indent).append(" * ").append(doc.getFirst().strip()).append('\n');
        } else {
            sb.append(indent).append(" * <pre>\n");
            for (String l : doc) sb.append(indent).append(l.isEmpty() ? " *" : " * " + l).append('\n');
            sb.append(indent).append(" * </pre>\n");
        }
        sb.append(indent).append(" */\n");
        return sb.toString();
    }

    Long macroValue(List<String> toks) {
        if (toks.isEmpty()) return null;
        boolean neg = false;
        int i = 0;
        if (toks.get(0).equals("-")) { neg = true; i = 1; }
        if (toks.size() != i + 1) return null;
        String t = toks.get(i);
        if (macros.containsKey(t)) return neg ? -macros.get(t) : macros.get(t);
        String s = t.toLowerCase(Locale.ROOT).replaceAll("[ul]+$", "");
        try {
            long v = s.startsWith("0x") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
            return neg ? -v : v;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static final Set<String> JAVA_KEYWORDS = Set.of("abstract", "assert", "boolean", "break", "byte", "case", "catch", "char",
            "class", "const", "continue", "default", "do", "double", "else", "enum", "extends", "final", "finally", "float",
            "for", "goto", "if", "implements", "import", "instanceof", "int", "interface", "long", "native", "new", "package",
            "private", "protected", "public", "return", "short", "static", "strictfp", "super", "switch", "synchronized", "this",
            "throw", "throws", "transient", "try", "void", "volatile", "while", "_", "record", "var", "yield");

    static String safe(String n) { return JAVA_KEYWORDS.contains(n) ? n + "$" : n; }

    static String javaName(String cname) { return cname; }

    // ------------------------------------------------------------------ emit

    String banner(String what) {
        return "// Generated by llama-java bindgen (bindings/generator/BindGen.java) from " + what + ".\n"
                + "// DO NOT EDIT: regenerate with ci/gen-bindings.\n\n"
                + "package " + pkg + ";\n\n";
    }

    static String imports() {
        return "import java.lang.foreign.*;\nimport java.lang.invoke.MethodHandle;\nimport java.lang.invoke.MethodHandles;\n"
                + "import java.lang.invoke.MethodType;\n\nimport static java.lang.foreign.MemoryLayout.PathElement.groupElement;\n\n";
    }

    String desc(JType ret, List<Param> ps) {
        String args = ps.stream().map(p -> lay(p.type())).collect(Collectors.joining(", "));
        return ret.isVoid() ? "FunctionDescriptor.ofVoid(" + args + ")"
                : "FunctionDescriptor.of(" + lay(ret) + (args.isEmpty() ? "" : ", " + args) + ")";
    }

    String lay(JType t) {
        String e = t.layoutExpr();
        if (e.startsWith("C_")) return headerClass + "." + e;
        return e.replace("C_", headerClass + ".C_");
    }

    Map<String, String> emit() {
        Map<String, String> files = new TreeMap<>();
        files.put(headerClass, emitHeader());
        for (Record r : records.values()) files.put(javaName(r.name()), emitRecord(r, false, ""));
        for (Map.Entry<String, Callback> e : callbacks.entrySet()) {
            if (!e.getKey().contains(".")) files.put(e.getKey(), emitCallback(e.getValue(), false, ""));
        }
        return files;
    }

    String emitHeader() {
        StringBuilder sb = new StringBuilder(banner(String.join(", ", headers)));
        String imports = imports();
        if (lookupImport != null && !lookupImport.substring(0, Math.max(0, lookupImport.lastIndexOf('.'))).equals(pkg)) {
            // its own group, after java.* and before the static import
            imports = imports.replace("\n\nimport static ", "\n\nimport " + lookupImport + ";\n\nimport static ");
        }
        sb.append(imports);
        sb.append("/**\n * Functions, enum constants and integer macros of ").append(String.join(", ", headers)).append(".\n")
          .append(" * Each function has a static method that calls it and {@code <name>$handle()}, {@code <name>$address()},\n")
          .append(" * {@code <name>$descriptor()}. Symbols are resolved through llama-java's native loader.\n */\n");
        sb.append("@SuppressWarnings({\"unused\", \"removal\"})\n");
        sb.append("public final class ").append(headerClass).append(" {\n\n    private ").append(headerClass).append("() { }\n\n");
        sb.append("    static final SymbolLookup SYMBOLS = ").append(lookupExpr).append(";\n\n");
        sb.append("""
                    public static final ValueLayout.OfBoolean C_BOOL = ValueLayout.JAVA_BOOLEAN;
                    public static final ValueLayout.OfByte C_CHAR = ValueLayout.JAVA_BYTE;
                    public static final ValueLayout.OfShort C_SHORT = ValueLayout.JAVA_SHORT;
                    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
                    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
                    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
                    public static final ValueLayout.OfFloat C_FLOAT = ValueLayout.JAVA_FLOAT;
                    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;
                    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

                    static MethodHandle downcall(String name, FunctionDescriptor desc) {
                        return Linker.nativeLinker().downcallHandle(SYMBOLS.findOrThrow(name), desc);
                    }

                    static MethodHandle upcallTarget(Class<?> fi, String name, FunctionDescriptor desc) {
                        try {
                            return MethodHandles.lookup().findVirtual(fi, name, desc.toMethodType());
                        } catch (ReflectiveOperationException ex) {
                            throw new AssertionError(ex);
                        }
                    }

                """);
        // macros
        if (!macros.isEmpty()) sb.append("    // ---- integer macros\n\n");
        for (Map.Entry<String, Long> m : macros.entrySet()) {
            long v = m.getValue();
            if (v >= Integer.MIN_VALUE && v <= 0xFFFFFFFFL) {
                sb.append("    public static final int ").append(m.getKey()).append(" = ").append(v > Integer.MAX_VALUE ? "(int) " + v + "L" : Long.toString(v)).append(";\n");
            } else {
                sb.append("    public static final long ").append(m.getKey()).append(" = ").append(v).append("L;\n");
            }
        }
        // enums
        String cur = null;
        boolean gap = false; // the last line is blank; a constant with javadoc has blank lines around it
        for (EnumConst e : enumConsts) {
            if (!e.enumName().equals(cur)) {
                cur = e.enumName();
                sb.append(gap ? "" : "\n").append("    // ---- enum ").append(cur).append("\n\n");
                gap = true;
            }
            if (e.doc() != null) {
                if (!gap) sb.append("\n");
                sb.append(javadoc("    ", "{@code " + e.name() + "} of {@code enum " + e.enumName() + "}.", e.doc()));
            }
            sb.append("    public static final int ").append(e.name()).append(" = ").append(e.value()).append(";\n");
            gap = e.doc() != null;
            if (gap) sb.append("\n");
        }
        if (!gap) sb.append("\n");
        for (Function f : functions) emitFunction(sb, f);
        sb.append("}\n");
        return sb.toString();
    }

    void emitFunction(StringBuilder sb, Function f) {
        boolean structRet = f.ret().isStruct();
        String name = f.name();
        sb.append("    private static final class ").append(name).append(" {\n");
        sb.append("        static final FunctionDescriptor DESC = ").append(desc(f.ret(), f.params())).append(";\n");
        sb.append("        static final MemorySegment ADDR = SYMBOLS.findOrThrow(\"").append(name).append("\");\n");
        sb.append("        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(ADDR, DESC);\n    }\n\n");
        sb.append("    /** {@code ").append(name).append("} ( ").append(f.where()).append(" ). */\n");
        sb.append("    public static FunctionDescriptor ").append(name).append("$descriptor() { return ").append(name).append(".DESC; }\n\n");
        sb.append("    public static MethodHandle ").append(name).append("$handle() { return ").append(name).append(".HANDLE; }\n\n");
        sb.append("    public static MemorySegment ").append(name).append("$address() { return ").append(name).append(".ADDR; }\n\n");
        List<String> decl = new ArrayList<>();
        List<String> use = new ArrayList<>();
        if (structRet) { decl.add("SegmentAllocator allocator"); use.add("allocator"); }
        for (Param p : f.params()) { decl.add(p.type().javaType() + " " + p.name()); use.add(p.name()); }
        String rt = f.ret().javaType();
        sb.append(javadoc("    ", "Calls {@code " + name + "}.", f.doc()));
        sb.append("    public static ").append(rt).append(" ").append(name).append("(").append(String.join(", ", decl)).append(") {\n");
        sb.append("        var mh$ = ").append(name).append(".HANDLE;\n        try {\n            ");
        if (!f.ret().isVoid()) sb.append("return (").append(rt).append(") ");
        sb.append("mh$.invokeExact(").append(String.join(", ", use)).append(");\n");
        sb.append("        } catch (Error | RuntimeException ex) {\n            throw ex;\n        } catch (Throwable ex$) {\n")
          .append("            throw new AssertionError(\"should not reach here\", ex$);\n        }\n    }\n\n");
    }

    String emitRecord(Record r, boolean nested, String indent) {
        StringBuilder sb = new StringBuilder();
        String cls = javaName(r.name());
        if (!nested) {
            sb.append(banner(r.where().split(":")[0])).append(imports());
            sb.append(javadocBlock("", "{@code " + (r.union() ? "union " : "struct ") + r.name() + "} ( " + r.where()
                    + " ): " + r.size() + " bytes, aligned to " + r.align() + ".", r.doc()));
            sb.append("public final class ").append(cls).append(" {\n\n    private ").append(cls).append("() { }\n\n");
        } else {
            sb.append(javadoc(indent, "Anonymous " + (r.union() ? "union" : "struct") + " member.", r.doc()));
            sb.append(indent).append("public static final class ").append(cls).append(" {\n\n").append(indent).append("    private ").append(cls).append("() { }\n\n");
        }
        String in = indent + "    ";
        for (Record a : r.anon()) sb.append(emitRecord(a, true, in));
        // layout
        List<String> parts = new ArrayList<>();
        long pos = 0;
        for (Field f : r.fields()) {
            if (!r.union() && f.offset() > pos) parts.add("MemoryLayout.paddingLayout(" + (f.offset() - pos) + ")");
            String le = f.type().recordName() != null && f.type().recordName().startsWith("$")
                    ? f.type().recordName().substring(1) + ".layout()" : lay(f.type());
            parts.add(le + ".withName(\"" + f.name() + "\")");
            long end = f.offset() + f.type().size();
            if (r.union()) pos = Math.max(pos, end); else pos = end;
        }
        if (pos < r.size()) parts.add("MemoryLayout.paddingLayout(" + (r.size() - pos) + ")");
        sb.append(in).append("private static final GroupLayout $LAYOUT = MemoryLayout.").append(r.union() ? "unionLayout" : "structLayout").append("(\n");
        sb.append(parts.stream().map(p -> in + "    " + p).collect(Collectors.joining(",\n"))).append("\n");
        sb.append(in).append(")").append(r.name().startsWith("$") ? "" : ".withName(\"" + r.name() + "\")").append(";\n\n");
        sb.append(in).append("/** The layout of this record. */\n");
        sb.append(in).append("public static GroupLayout layout() { return $LAYOUT; }\n\n");
        sb.append(in).append("/** Size in bytes. */\n");
        sb.append(in).append("public static long sizeof() { return $LAYOUT.byteSize(); }\n\n");
        sb.append(in).append("/** Allocates one zeroed instance. */\n");
        sb.append(in).append("public static MemorySegment allocate(SegmentAllocator allocator) { return allocator.allocate($LAYOUT); }\n\n");
        sb.append(in).append("/** Allocates a zeroed array of {@code count} instances. */\n");
        sb.append(in).append("public static MemorySegment allocateArray(long count, SegmentAllocator allocator) {\n")
          .append(in).append("    return allocator.allocate(MemoryLayout.sequenceLayout(count, $LAYOUT));\n").append(in).append("}\n\n");
        sb.append(in).append("/** Element {@code index} of an array of this record. */\n");
        sb.append(in).append("public static MemorySegment asSlice(MemorySegment array, long index) {\n")
          .append(in).append("    return array.asSlice($LAYOUT.byteSize() * index, $LAYOUT);\n").append(in).append("}\n\n");
        sb.append(in).append("/** Views {@code address} as one instance of this record. */\n");
        sb.append(in).append("public static MemorySegment reinterpret(MemorySegment address) { return address.reinterpret($LAYOUT.byteSize()); }\n\n");
        for (Field f : r.fields()) emitField(sb, r, f, in);
        // anonymous-member fields are reachable from the enclosing record too (C11 semantics)
        for (Field f : r.fields()) {
            if (f.name().startsWith("$anon$")) {
                Record a = r.anon().stream().filter(x -> x.name().equals(f.type().recordName().substring(1))).findFirst().orElseThrow();
                for (Field af : a.fields()) emitAnonField(sb, f, a, af, in);
            }
        }
        for (String cbf : r.callbackFields()) {
            Callback cb = callbacks.get(cls + "." + cbf);
            sb.append(emitCallback(cb, true, in));
        }
        sb.append(indent).append("}\n");
        return sb.toString();
    }

    void emitField(StringBuilder sb, Record r, Field f, String in) {
        String n = f.name();
        String jn = safe(n);
        String path = "groupElement(\"" + n + "\")";
        sb.append(in).append("/** Byte offset of {@code ").append(n).append("}. */\n");
        sb.append(in).append("public static final long ").append(n).append("$OFFSET = $LAYOUT.byteOffset(").append(path).append(");\n\n");
        sb.append(in).append("public static long ").append(n).append("$offset() { return ").append(n).append("$OFFSET; }\n\n");
        JType t = f.type();
        if (t.recordName() != null) {
            sb.append(in).append("private static final MemoryLayout ").append(n).append("$LAYOUT = $LAYOUT.select(").append(path).append(");\n\n");
            sb.append(javadoc(in, "{@code " + n + "}, as a slice of {@code struct}.", f.doc()));
            sb.append(in).append("public static MemorySegment ").append(jn).append("(MemorySegment struct) {\n")
              .append(in).append("    return struct.asSlice(").append(n).append("$OFFSET, ").append(n).append("$LAYOUT.byteSize());\n").append(in).append("}\n\n");
            sb.append(javadoc(in, "Copies {@code value} into {@code " + n + "}.", f.doc()));
            sb.append(in).append("public static void ").append(jn).append("(MemorySegment struct, MemorySegment value) {\n")
              .append(in).append("    MemorySegment.copy(value, 0L, struct, ").append(n).append("$OFFSET, ").append(n).append("$LAYOUT.byteSize());\n").append(in).append("}\n\n");
            return;
        }
        String vl = valueLayoutClass(t);
        sb.append(in).append("private static final ").append(vl).append(" ").append(n).append("$LAYOUT = (").append(vl).append(") $LAYOUT.select(").append(path).append(");\n\n");
        sb.append(javadoc(in, "Reads {@code " + n + "}.", f.doc()));
        sb.append(in).append("public static ").append(t.javaType()).append(" ").append(jn).append("(MemorySegment struct) {\n")
          .append(in).append("    return struct.get(").append(n).append("$LAYOUT, ").append(n).append("$OFFSET);\n").append(in).append("}\n\n");
        sb.append(javadoc(in, "Writes {@code " + n + "}.", f.doc()));
        sb.append(in).append("public static void ").append(jn).append("(MemorySegment struct, ").append(t.javaType()).append(" value) {\n")
          .append(in).append("    struct.set(").append(n).append("$LAYOUT, ").append(n).append("$OFFSET, value);\n").append(in).append("}\n\n");
    }

    void emitAnonField(StringBuilder sb, Field anonMember, Record a, Field af, String in) {
        String n = af.name();
        String jn = safe(n);
        String path = "groupElement(\"" + anonMember.name() + "\"), groupElement(\"" + n + "\")";
        sb.append(in).append("/** Byte offset of {@code ").append(n).append("} (anonymous member). */\n");
        sb.append(in).append("public static final long ").append(n).append("$OFFSET = $LAYOUT.byteOffset(").append(path).append(");\n\n");
        sb.append(in).append("public static long ").append(n).append("$offset() { return ").append(n).append("$OFFSET; }\n\n");
        JType t = af.type();
        if (t.recordName() != null) {
            if (af.doc() != null) sb.append(javadoc(in, "{@code " + n + "} (anonymous member), as a slice of {@code struct}.", af.doc()));
            sb.append(in).append("public static MemorySegment ").append(jn).append("(MemorySegment struct) {\n")
              .append(in).append("    return struct.asSlice(").append(n).append("$OFFSET, ").append(t.size()).append("L);\n").append(in).append("}\n\n");
            if (af.doc() != null) sb.append(javadoc(in, "Copies {@code value} into {@code " + n + "} (anonymous member).", af.doc()));
            sb.append(in).append("public static void ").append(jn).append("(MemorySegment struct, MemorySegment value) {\n")
              .append(in).append("    MemorySegment.copy(value, 0L, struct, ").append(n).append("$OFFSET, ").append(t.size()).append("L);\n").append(in).append("}\n\n");
            return;
        }
        String vl = valueLayoutClass(t);
        sb.append(in).append("private static final ").append(vl).append(" ").append(n).append("$LAYOUT = (").append(vl).append(") $LAYOUT.select(").append(path).append(");\n\n");
        if (af.doc() != null) sb.append(javadoc(in, "Reads {@code " + n + "} (anonymous member).", af.doc()));
        sb.append(in).append("public static ").append(t.javaType()).append(" ").append(jn).append("(MemorySegment struct) {\n")
          .append(in).append("    return struct.get(").append(n).append("$LAYOUT, ").append(n).append("$OFFSET);\n").append(in).append("}\n\n");
        if (af.doc() != null) sb.append(javadoc(in, "Writes {@code " + n + "} (anonymous member).", af.doc()));
        sb.append(in).append("public static void ").append(jn).append("(MemorySegment struct, ").append(t.javaType()).append(" value) {\n")
          .append(in).append("    struct.set(").append(n).append("$LAYOUT, ").append(n).append("$OFFSET, value);\n").append(in).append("}\n\n");
    }

    static String valueLayoutClass(JType t) {
        return switch (t.javaType()) {
            case "boolean" -> "ValueLayout.OfBoolean";
            case "byte" -> "ValueLayout.OfByte";
            case "short" -> "ValueLayout.OfShort";
            case "int" -> "ValueLayout.OfInt";
            case "long" -> "ValueLayout.OfLong";
            case "float" -> "ValueLayout.OfFloat";
            case "double" -> "ValueLayout.OfDouble";
            case "MemorySegment" -> "AddressLayout";
            default -> throw new IllegalStateException(t.javaType());
        };
    }

    String emitCallback(Callback cb, boolean nested, String indent) {
        StringBuilder sb = new StringBuilder();
        String cls = cb.name();
        if (!nested) {
            sb.append(banner(cb.where().split(":")[0])).append(imports());
            sb.append(javadocBlock("", "Function pointer type {@code " + cb.name() + "} ( " + cb.where() + " ).\n"
                    + "An upcall must not let an exception escape: the JVM would exit.", cb.doc()));
            sb.append("public final class ").append(cls).append(" {\n\n    private ").append(cls).append("() { }\n\n");
        } else {
            sb.append(javadoc(indent, "Function pointer type of field {@code " + cb.name() + "}.", cb.doc()));
            sb.append(indent).append("public static final class ").append(cls).append(" {\n\n").append(indent).append("    private ").append(cls).append("() { }\n\n");
        }
        String in = indent + "    ";
        String params = cb.params().stream().map(p -> p.type().javaType() + " " + p.name()).collect(Collectors.joining(", "));
        String args = cb.params().stream().map(Param::name).collect(Collectors.joining(", "));
        sb.append(in).append("/** The Java side of the function. */\n");
        sb.append(in).append("public interface Function {\n").append(in).append("    ").append(cb.ret().javaType()).append(" apply(").append(params).append(");\n").append(in).append("}\n\n");
        sb.append(in).append("public static final FunctionDescriptor DESC = ").append(desc(cb.ret(), cb.params())).append(";\n\n");
        sb.append(in).append("private static final MethodHandle UP$MH = ").append(headerClass).append(".upcallTarget(Function.class, \"apply\", DESC);\n\n");
        sb.append(in).append("/** Makes a native function pointer that calls {@code fi}, valid as long as {@code arena} is alive. */\n");
        sb.append(in).append("public static MemorySegment allocate(Function fi, Arena arena) {\n")
          .append(in).append("    return Linker.nativeLinker().upcallStub(UP$MH.bindTo(fi), DESC, arena);\n").append(in).append("}\n\n");
        sb.append(in).append("private static final MethodHandle DOWN$MH = Linker.nativeLinker().downcallHandle(DESC);\n\n");
        sb.append(in).append("/** Calls the native function pointer {@code funcPtr}. */\n");
        sb.append(in).append("public static ").append(cb.ret().javaType()).append(" invoke(MemorySegment funcPtr").append(params.isEmpty() ? "" : ", " + params).append(") {\n");
        sb.append(in).append("    try {\n").append(in).append("        ");
        if (!cb.ret().isVoid()) sb.append("return (").append(cb.ret().javaType()).append(") ");
        sb.append("DOWN$MH.invokeExact(funcPtr").append(args.isEmpty() ? "" : ", " + args).append(");\n");
        sb.append(in).append("    } catch (Error | RuntimeException ex) {\n").append(in).append("        throw ex;\n")
          .append(in).append("    } catch (Throwable ex$) {\n").append(in).append("        throw new AssertionError(\"should not reach here\", ex$);\n")
          .append(in).append("    }\n").append(in).append("}\n");
        sb.append(indent).append("}\n");
        if (nested) sb.append("\n");
        return sb.toString();
    }

    // ------------------------------------------------------------------ main

    public static void main(String[] args) throws IOException {
        Path libclang = Path.of("/usr/lib/llvm-14/lib/libclang.so.1");
        List<String> includes = new ArrayList<>();
        Set<String> headers = new LinkedHashSet<>();
        Set<String> extra = new LinkedHashSet<>();
        String pkg = "dev.llamajava.ffi";
        String headerClass = "llama_h";
        String lookup = null;
        String lookupClass = null;
        Path out = null;
        Path report = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--libclang" -> libclang = Path.of(args[++i]);
                case "-I" -> includes.add(args[++i]);
                case "--header" -> headers.add(args[++i]);
                case "--extra-header" -> extra.add(args[++i]);
                case "--package" -> pkg = args[++i];
                case "--class" -> headerClass = args[++i];
                case "--lookup" -> lookup = args[++i];
                case "--lookup-class" -> lookupClass = args[++i];
                case "--out" -> out = Path.of(args[++i]);
                case "--report" -> report = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (out == null || headers.isEmpty()) throw new IllegalArgumentException("--out and --header are required");
        // --lookup-class a.b.C: import a.b.C and resolve symbols with C.symbolLookup() (or with --lookup's expression)
        if (lookupClass != null && lookup == null) lookup = lookupClass.substring(lookupClass.lastIndexOf('.') + 1) + ".symbolLookup()";
        if (lookup == null) throw new IllegalArgumentException("--lookup-class or --lookup is required");
        Clang clang = new Clang(libclang);
        Path tmp = Files.createTempFile("bindgen", ".c");
        StringBuilder src = new StringBuilder();
        for (String h : headers) src.append("#include \"").append(h).append("\"\n");
        Files.writeString(tmp, src);
        // -fparse-all-comments: attach plain // and /* */ comments too (not only doxygen ones), trailing ones included
        List<String> cargs = new ArrayList<>(List.of("-x", "c", "-std=c11", "-fparse-all-comments"));
        for (String inc : includes) { cargs.add("-I"); cargs.add(inc); }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment index = (MemorySegment) clang.call("clang_createIndex", FunctionDescriptor.of(ADDRESS, JAVA_INT, JAVA_INT), 0, 0);
            // clang_createIndex turns on LLVM's crash recovery unless LIBCLANG_DISABLE_CRASH_RECOVERY is set: that installs
            // SIGSEGV/SIGBUS handlers over the JVM's, which then re-raise the JVM's own (handled) faults as fatal signals.
            // ci/gen-bindings sets the variable; this undoes it for any other caller before libclang does anything else.
            clang.call("clang_toggleCrashRecovery", FunctionDescriptor.ofVoid(JAVA_INT), 0);
            MemorySegment argv = arena.allocate(ADDRESS, cargs.size());
            for (int i = 0; i < cargs.size(); i++) argv.setAtIndex(ADDRESS, i, arena.allocateFrom(cargs.get(i)));
            int detailedPreprocessingRecord = 0x01;
            MemorySegment tu = (MemorySegment) clang.call("clang_parseTranslationUnit",
                    FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
                    index, arena.allocateFrom(tmp.toString()), argv, cargs.size(), MemorySegment.NULL, 0, detailedPreprocessingRecord);
            if (tu.equals(MemorySegment.NULL)) throw new IllegalStateException("libclang could not parse " + headers);
            int nd = (int) clang.call("clang_getNumDiagnostics", FunctionDescriptor.of(JAVA_INT, ADDRESS), tu);
            boolean fatal = false;
            for (int i = 0; i < nd; i++) {
                MemorySegment d = (MemorySegment) clang.call("clang_getDiagnostic", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT), tu, i);
                int sev = (int) clang.call("clang_getDiagnosticSeverity", FunctionDescriptor.of(JAVA_INT, ADDRESS), d);
                MemorySegment s = (MemorySegment) clang.call("clang_formatDiagnostic", FunctionDescriptor.of(Clang.CXString, ADDRESS, JAVA_INT), d, 0);
                System.err.println("clang: " + clang.str(s));
                if (sev >= 3) fatal = true;
            }
            if (fatal) throw new IllegalStateException("errors while parsing the headers");
            MemorySegment root = (MemorySegment) clang.call("clang_getTranslationUnitCursor", FunctionDescriptor.of(Clang.CXCursor, ADDRESS), tu);
            BindGen g = new BindGen(clang, headers, extra, pkg, headerClass, lookup, lookupClass);
            g.collect(tu, root);
            Map<String, String> files = g.emit();
            Path dir = out.resolve(pkg.replace('.', '/'));
            Files.createDirectories(dir);
            // remove stale generated files, keep handwritten ones
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    if (p.toString().endsWith(".java") && Files.readString(p).startsWith("// Generated by llama-java bindgen")) Files.delete(p);
                }
            }
            for (Map.Entry<String, String> e : files.entrySet()) Files.writeString(dir.resolve(e.getKey() + ".java"), e.getValue());
            StringBuilder rep = new StringBuilder();
            rep.append("functions: ").append(g.functions.size()).append('\n');
            rep.append("structs/unions: ").append(g.records.size()).append(" (").append(String.join(", ", g.records.keySet())).append(")\n");
            rep.append("enums: ").append(g.enumNames.size()).append(" (").append(g.enumConsts.size()).append(" constants)\n");
            rep.append("callback types: ").append(g.callbacks.size()).append('\n');
            rep.append("integer macros: ").append(g.macros.size()).append('\n');
            rep.append("deprecated, left out: ").append(g.deprecated.size()).append(" ").append(g.deprecated).append('\n');
            rep.append("not expressible, left out: ").append(g.skipped.size()).append(" ").append(g.skipped).append('\n');
            List<Field> fields = new ArrayList<>();
            for (Record r : g.records.values()) {
                for (Field f : r.fields()) {
                    if (!f.name().startsWith("$anon$")) fields.add(f);
                }
                for (Record a : r.anon()) fields.addAll(a.fields());
            }
            rep.append("functions with C documentation: ").append(g.functions.stream().filter(f -> f.doc() != null).count())
               .append(" of ").append(g.functions.size()).append('\n');
            rep.append("struct/union fields with C documentation: ").append(fields.stream().filter(f -> f.doc() != null).count())
               .append(" of ").append(fields.size()).append('\n');
            rep.append("structs/unions with C documentation: ").append(g.records.values().stream().filter(r -> r.doc() != null).count())
               .append(" of ").append(g.records.size()).append('\n');
            rep.append("enum constants with C documentation: ").append(g.enumConsts.stream().filter(e -> e.doc() != null).count())
               .append(" of ").append(g.enumConsts.size()).append('\n');
            rep.append("callback types with C documentation: ").append(g.callbacks.values().stream().filter(c -> c.doc() != null).count())
               .append(" of ").append(g.callbacks.size()).append('\n');
            if (report != null) Files.writeString(report, rep); else System.err.print(rep);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
