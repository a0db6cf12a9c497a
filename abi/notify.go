package abi

import (
	"strconv"
	"structs"
)

// NotifyCode is enum fuse_notify_code: the Error field of an [OutHeader]
// whose Unique is 0.
type NotifyCode int32

// Notification codes.
const (
	// FUSE_NOTIFY_POLL wakes pollers of a kernel handle. Since 7.11.
	FUSE_NOTIFY_POLL NotifyCode = 1
	// FUSE_NOTIFY_INVAL_INODE invalidates an inode's attributes and data.
	// Since 7.12.
	FUSE_NOTIFY_INVAL_INODE NotifyCode = 2
	// FUSE_NOTIFY_INVAL_ENTRY invalidates a directory entry. Since 7.12.
	FUSE_NOTIFY_INVAL_ENTRY NotifyCode = 3
	// FUSE_NOTIFY_STORE stores data in the page cache. Since 7.15.
	FUSE_NOTIFY_STORE NotifyCode = 4
	// FUSE_NOTIFY_RETRIEVE asks for cached data, answered with a
	// FUSE_NOTIFY_REPLY request. Since 7.15.
	FUSE_NOTIFY_RETRIEVE NotifyCode = 5
	// FUSE_NOTIFY_DELETE removes a directory entry. Since 7.18.
	FUSE_NOTIFY_DELETE NotifyCode = 6
	// FUSE_NOTIFY_RESEND re-queues every request read but not answered.
	// Since 7.40.
	FUSE_NOTIFY_RESEND NotifyCode = 7
	// FUSE_NOTIFY_INC_EPOCH invalidates caches from older epochs.
	// Since 7.44.
	FUSE_NOTIFY_INC_EPOCH NotifyCode = 8
	// FUSE_NOTIFY_PRUNE asks the kernel to evict unused inodes. Since 7.45.
	FUSE_NOTIFY_PRUNE NotifyCode = 9
)

// NotifyInfo describes a notification code.
type NotifyInfo struct {
	// Code is the notification code.
	Code NotifyCode
	// Name is the kernel name without the FUSE_NOTIFY_ prefix.
	Name string
	// Minor is the protocol minor that introduced the code.
	Minor uint32
	// Size is the size of the fixed body after the out-header (0 if none);
	// INVAL_ENTRY and DELETE add a name and NUL, STORE data, PRUNE node IDs.
	Size int
}

// notifyTable is indexed by code; entry 0 is unused.
var notifyTable = [...]NotifyInfo{
	FUSE_NOTIFY_POLL:        {FUSE_NOTIFY_POLL, "POLL", 11, 8},
	FUSE_NOTIFY_INVAL_INODE: {FUSE_NOTIFY_INVAL_INODE, "INVAL_INODE", 12, 24},
	FUSE_NOTIFY_INVAL_ENTRY: {FUSE_NOTIFY_INVAL_ENTRY, "INVAL_ENTRY", 12, 16},
	FUSE_NOTIFY_STORE:       {FUSE_NOTIFY_STORE, "STORE", 15, 24},
	FUSE_NOTIFY_RETRIEVE:    {FUSE_NOTIFY_RETRIEVE, "RETRIEVE", 15, 32},
	FUSE_NOTIFY_DELETE:      {FUSE_NOTIFY_DELETE, "DELETE", 18, 24},
	FUSE_NOTIFY_RESEND:      {FUSE_NOTIFY_RESEND, "RESEND", 40, 0},
	FUSE_NOTIFY_INC_EPOCH:   {FUSE_NOTIFY_INC_EPOCH, "INC_EPOCH", 44, 0},
	FUSE_NOTIFY_PRUNE:       {FUSE_NOTIFY_PRUNE, "PRUNE", 45, 16},
}

// Info returns the description of c, or nil if c is unknown. The result
// points into a static table and must not be modified.
func (c NotifyCode) Info() *NotifyInfo {
	if c <= 0 || int(c) >= len(notifyTable) {
		return nil
	}
	return &notifyTable[c]
}

// String returns the name without prefix ("INVAL_INODE"), or "NOTIFY_<n>"
// for an unknown code.
func (c NotifyCode) String() string {
	if in := c.Info(); in != nil {
		return in.Name
	}
	return "NOTIFY_" + strconv.FormatInt(int64(c), 10)
}

// NotifyInfos returns all notification codes in code order.
func NotifyInfos() []NotifyInfo {
	return append([]NotifyInfo(nil), notifyTable[1:]...)
}

// NotifyPollWakeupOut is struct fuse_notify_poll_wakeup_out, the body of
// FUSE_NOTIFY_POLL. Since 7.11.
type NotifyPollWakeupOut struct {
	_ structs.HostLayout
	// Kh is the kernel handle from [PollIn].
	Kh uint64
}

// NotifyInvalInodeOut is struct fuse_notify_inval_inode_out, the body of
// FUSE_NOTIFY_INVAL_INODE. Since 7.12.
type NotifyInvalInodeOut struct {
	_ structs.HostLayout
	// Ino is the node ID.
	Ino uint64
	// Off is the start of the data range; negative invalidates only the
	// attributes.
	Off int64
	// Len is the length of the range; 0 or less means to the end.
	Len int64
}

// NotifyInvalEntryOut is struct fuse_notify_inval_entry_out, the fixed part
// of FUSE_NOTIFY_INVAL_ENTRY; the name and a NUL follow. Since 7.12.
type NotifyInvalEntryOut struct {
	_ structs.HostLayout
	// Parent is the node ID of the directory.
	Parent uint64
	// Namelen is the length of the name, without NUL.
	Namelen uint32
	// Flags holds FUSE_EXPIRE_ONLY. Since 7.38; padding before.
	Flags InvalEntryFlags
}

// NotifyDeleteOut is struct fuse_notify_delete_out, the fixed part of
// FUSE_NOTIFY_DELETE; the name and a NUL follow. Since 7.18.
type NotifyDeleteOut struct {
	_ structs.HostLayout
	// Parent is the node ID of the directory.
	Parent uint64
	// Child is the node ID of the deleted entry.
	Child uint64
	// Namelen is the length of the name, without NUL.
	Namelen uint32
	_       uint32
}

// NotifyStoreOut is struct fuse_notify_store_out, the fixed part of
// FUSE_NOTIFY_STORE; Size data bytes follow. Since 7.15.
type NotifyStoreOut struct {
	_ structs.HostLayout
	// NodeID is the inode.
	NodeID uint64
	// Offset is the file offset of the data.
	Offset uint64
	// Size is the number of data bytes.
	Size uint32
	_    uint32
}

// NotifyRetrieveOut is struct fuse_notify_retrieve_out, the body of
// FUSE_NOTIFY_RETRIEVE. Since 7.15.
type NotifyRetrieveOut struct {
	_ structs.HostLayout
	// NotifyUnique is the unique the kernel will put in the
	// FUSE_NOTIFY_REPLY request.
	NotifyUnique uint64
	// NodeID is the inode.
	NodeID uint64
	// Offset is the file offset wanted.
	Offset uint64
	// Size is the number of bytes wanted.
	Size uint32
	_    uint32
}

// NotifyRetrieveIn is struct fuse_notify_retrieve_in, the fixed part of the
// FUSE_NOTIFY_REPLY request; Size data bytes follow. It has the size of
// [WriteIn]. Since 7.15.
type NotifyRetrieveIn struct {
	_ structs.HostLayout
	_ uint64
	// Offset is the file offset of the data.
	Offset uint64
	// Size is the number of data bytes that follow.
	Size uint32
	_    uint32
	_    uint64
	_    uint64
}

// NotifyPruneOut is struct fuse_notify_prune_out, the fixed part of
// FUSE_NOTIFY_PRUNE; Count 64-bit node IDs follow. Since 7.45.
type NotifyPruneOut struct {
	_ structs.HostLayout
	// Count is the number of node IDs that follow.
	Count uint32
	_     uint32
	_     uint64
}
