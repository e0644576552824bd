import CMicroHTTPD
import Glibc

/// A certificate chain and its private key, read from PEM files and checked to belong together,
/// in the form a GnuTLS handshake presents them.
///
/// Each connection keeps the certificate that was current when it opened, and its handshake
/// presents that one: a reload never frees a certificate that a handshake may still be using,
/// since it is freed with the last connection holding it.
///
/// `@unchecked Sendable`: the pointers are written only in `init` and freed only in `deinit`;
/// in between GnuTLS only reads them, from the handshakes of any thread, as it does the
/// certificates of a shared credentials structure.
package final class TLSCertificate: @unchecked Sendable {
    /// The chain, the server's own certificate first.
    let chain: UnsafeMutablePointer<gnutls_pcert_st>
    /// How many certificates `chain` holds.
    let chainLength: Int
    /// The private key of `chain[0]`.
    let key: gnutls_privkey_t
    /// What a person needs to tell this certificate from another.
    package let summary: Summary

    /// The longest chain read: the server's certificate and its intermediates.
    private static let maxChainLength = 16
    /// The largest PEM file read.
    private static let maxFileBytes = 1 << 20

    /// Reads and checks the pair named by `configuration`. O(file sizes).
    init(configuration: TLSConfiguration) throws(TLSError) {
        let certificateFile = configuration.certificateFile
        let keyFile = configuration.keyFile
        var certificatePEM = try Self.contents(of: certificateFile)
        var keyPEM = try Self.contents(of: keyFile)
        let chain = UnsafeMutablePointer<gnutls_pcert_st>.allocate(capacity: Self.maxChainLength)
        chain.initialize(repeating: gnutls_pcert_st(), count: Self.maxChainLength)
        var chainLength = UInt32(Self.maxChainLength)
        let imported = certificatePEM.withUnsafeMutableBytes { pem in
            var datum = gnutls_datum_t(
                data: pem.baseAddress?.assumingMemoryBound(to: UInt8.self), size: UInt32(pem.count))
            return gnutls_pcert_list_import_x509_raw(
                chain, &chainLength, &datum, GNUTLS_X509_FMT_PEM,
                GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED.rawValue | GNUTLS_X509_CRT_LIST_SORT.rawValue)
        }
        guard imported >= 0, chainLength > 0 else {
            chain.deallocate()
            let code = imported < 0 ? imported : GNUTLS_E_NO_CERTIFICATE_FOUND
            throw TLSError(file: certificateFile, reason: .invalidCertificate(code: code))
        }
        var isKept = false
        defer {
            if !isKept {
                for index in 0..<Int(chainLength) {
                    gnutls_pcert_deinit(chain + index)
                }
                chain.deallocate()
            }
        }
        var key: gnutls_privkey_t?
        let initialized = gnutls_privkey_init(&key)
        guard initialized >= 0, let key else {
            throw TLSError(
                file: keyFile, reason: .failure(function: "gnutls_privkey_init", code: initialized))
        }
        defer {
            if !isKept {
                gnutls_privkey_deinit(key)
            }
        }
        let keyImported = keyPEM.withUnsafeMutableBytes { pem in
            var datum = gnutls_datum_t(
                data: pem.baseAddress?.assumingMemoryBound(to: UInt8.self), size: UInt32(pem.count))
            return gnutls_privkey_import_x509_raw(key, &datum, GNUTLS_X509_FMT_PEM, nil, 0)
        }
        guard keyImported >= 0 else {
            throw TLSError(file: keyFile, reason: .invalidKey(code: keyImported))
        }
        try Self.checkMatch(chain.pointee.pubkey, key, keyFile: keyFile, certificateFile: certificateFile)
        let summary = try Self.summary(
            of: chain.pointee.cert, chainLength: Int(chainLength), file: certificateFile)
        self.chain = chain
        self.chainLength = Int(chainLength)
        self.key = key
        self.summary = summary
        isKept = true
    }

    deinit {
        for index in 0..<chainLength {
            gnutls_pcert_deinit(chain + index)
        }
        chain.deallocate()
        gnutls_privkey_deinit(key)
    }

    /// Whether `key` is the private key of `certificateKey`: their SHA-256 key ids are equal.
    private static func checkMatch(
        _ certificateKey: gnutls_pubkey_t?, _ key: gnutls_privkey_t, keyFile: String, certificateFile: String
    ) throws(TLSError) {
        guard let certificateKey else {
            throw TLSError(file: certificateFile, reason: .invalidCertificate(code: GNUTLS_E_INVALID_REQUEST))
        }
        var keyPublicPart: gnutls_pubkey_t?
        let initialized = gnutls_pubkey_init(&keyPublicPart)
        guard initialized >= 0, let keyPublicPart else {
            throw TLSError(file: keyFile, reason: .failure(function: "gnutls_pubkey_init", code: initialized))
        }
        defer { gnutls_pubkey_deinit(keyPublicPart) }
        let derived = gnutls_pubkey_import_privkey(keyPublicPart, key, 0, 0)
        guard derived >= 0 else {
            throw TLSError(file: keyFile, reason: .invalidKey(code: derived))
        }
        let certificateID = try keyID(of: certificateKey, file: certificateFile)
        let keyID = try keyID(of: keyPublicPart, file: keyFile)
        guard certificateID == keyID else {
            throw TLSError(file: keyFile, reason: .mismatch(certificateFile: certificateFile))
        }
    }

    /// The SHA-256 key id of `publicKey`: a hash of its algorithm and its value.
    private static func keyID(of publicKey: gnutls_pubkey_t, file: String) throws(TLSError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64)
        var size = bytes.count
        let result = gnutls_pubkey_get_key_id(publicKey, GNUTLS_KEYID_USE_SHA256.rawValue, &bytes, &size)
        guard result >= 0 else {
            throw TLSError(file: file, reason: .failure(function: "gnutls_pubkey_get_key_id", code: result))
        }
        return Array(bytes.prefix(size))
    }

    /// The subject, serial number and expiry of the DER certificate `der`.
    private static func summary(
        of der: gnutls_datum_t, chainLength: Int, file: String
    ) throws(TLSError) -> Summary {
        var certificate: gnutls_x509_crt_t?
        let initialized = gnutls_x509_crt_init(&certificate)
        guard initialized >= 0, let certificate else {
            throw TLSError(file: file, reason: .failure(function: "gnutls_x509_crt_init", code: initialized))
        }
        defer { gnutls_x509_crt_deinit(certificate) }
        var der = der
        let imported = gnutls_x509_crt_import(certificate, &der, GNUTLS_X509_FMT_DER)
        guard imported >= 0 else {
            throw TLSError(file: file, reason: .invalidCertificate(code: imported))
        }
        var subject = [CChar](repeating: 0, count: 1024)
        var subjectSize = subject.count
        if gnutls_x509_crt_get_dn(certificate, &subject, &subjectSize) < 0 {
            subject = [0]
        }
        var serial = [UInt8](repeating: 0, count: 64)
        var serialSize = serial.count
        if gnutls_x509_crt_get_serial(certificate, &serial, &serialSize) < 0 {
            serialSize = 0
        }
        return Summary(
            subject: subject.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
            serialNumber: serial.prefix(serialSize).map { hexDigits($0) }.joined(),
            expiry: Int64(gnutls_x509_crt_get_expiration_time(certificate)),
            chainLength: chainLength)
    }

    /// A byte as two lowercase hexadecimal digits.
    private static func hexDigits(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// The bytes of the file at `path`, at most `maxFileBytes`.
    private static func contents(of path: String) throws(TLSError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw TLSError(file: path, reason: .unreadable(function: "open", code: errno))
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSError(file: path, reason: .unreadable(function: "read", code: errno))
            }
            if count == 0 { return bytes }
            bytes += chunk.prefix(count)
            guard bytes.count <= maxFileBytes else {
                throw TLSError(file: path, reason: .unreadable(function: "read", code: EFBIG))
            }
        }
    }
}
