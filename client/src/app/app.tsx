import { CommentSection } from "@/features/comments/components/comment-section";
import { useAddCreatedComment } from "@/features/posts/api/add-created-comment";
import { CreatePostForm } from "@/features/posts/components/create-post-form";
import { PostList } from "@/features/posts/components/post-list";

/**
 * Renders the blog page. Features do not import each other, so this
 * component places the comments feature under each post and passes its new
 * comments to the posts feature's list.
 */
export function App() {
  const addCreatedComment = useAddCreatedComment();

  return (
    <div className="page">
      <header className="page-header">
        <h1>Blog</h1>
      </header>
      <main>
        <section className="panel" aria-labelledby="new-post-heading">
          <h2 id="new-post-heading">New post</h2>
          <CreatePostForm />
        </section>
        <section aria-labelledby="posts-heading">
          <h2 id="posts-heading">Posts</h2>
          <PostList
            renderPostBody={(post) => (
              <CommentSection
                postId={post.id}
                comments={post.comments}
                onCreated={addCreatedComment}
              />
            )}
          />
        </section>
      </main>
    </div>
  );
}
